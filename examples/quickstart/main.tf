# Quickstart: buy a software KMS instance and enable it in a VPC, against the bundled mockcloud.
# `cargo xtask demo` starts mockcloud and applies this with the variables below filled in.

terraform {
  required_providers {
    kms = {
      source = "mockcloud/kms"
    }
  }
}

variable "endpoint" {
  description = "The mock cloud's endpoint, as `mockcloud serve` prints it."
  type        = string
  default     = "https://127.0.0.1:9443"
}

variable "ca_cert_file" {
  description = "The mock cloud's CA certificate (<data-dir>/tls/ca.pem)."
  type        = string
}

# Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET.
provider "kms" {
  endpoint     = var.endpoint
  ca_cert_file = var.ca_cert_file
  region       = "cn-hangzhou"
}

resource "kms_instance" "quickstart" {
  management_type     = "software"
  compute_performance = 1000
  key_quota           = 1000
  secret_quota        = 100
  name                = "quickstart"

  # The default world has this VPC with a vSwitch in every zone of cn-hangzhou.
  vpc_id = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" },
  ]
  # The second zone of the dual-zone deployment is assigned by the cloud and shown after apply.
}

output "instance_id" {
  value = kms_instance.quickstart.id
}

output "status" {
  value = kms_instance.quickstart.status
}

output "zone_ids" {
  value = kms_instance.quickstart.zone_ids
}

output "vswitch_ids" {
  value = kms_instance.quickstart.vswitch_ids
}

output "endpoint" {
  value = kms_instance.quickstart.endpoint
}
