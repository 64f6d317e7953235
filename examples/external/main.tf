# External key management (S40–S45) against the bundled mockcloud and its XKI proxy emulator:
# keys whose material stays in "your own HSM" behind an XKI proxy; the cloud keeps metadata only
# and calls the proxy for every cryptographic operation.
#
# After `cargo xtask demo` (which starts mockcloud and installs the provider for terraform), from
# the repository root:
#
#   source target/demo/env.sh        # the provider mirror, mockcloud's endpoint, CA and keys
#   export TF_VAR_xki_proxy_dir=$PWD/target/demo/xki-proxy-data
#   target/debug/mockcloud xki-proxy --data-dir $TF_VAR_xki_proxy_dir > target/demo/xki-proxy.log 2>&1 &
#   mkdir -p target/demo/external && cp examples/external/main.tf target/demo/external/
#   cd target/demo/external && terraform init && terraform apply
#
# Later terraform commands in that directory need the same environment (the variables above).
# To finish: `terraform destroy` there, stop the proxy (`kill %1`), then `cargo xtask demo
# --cleanup`.
#
# With your own `mockcloud serve` (https://127.0.0.1:9443), give `-var ca_cert_file=<its
# data dir>/tls/ca.pem` instead of sourcing env.sh. The default world resolves
# xki-proxy.mockcloud.test to 127.0.0.1:9444, the proxy's default address, so the public endpoint
# below reaches the emulator. Stop the proxy and every Encrypt or Decrypt with the key fails with
# Rejected.XkiProxyUnavailable (S45); start it again on the same data directory and they work.

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

variable "xki_proxy_dir" {
  description = "The data directory of `mockcloud xki-proxy`; it holds the proxy's configuration file."
  type        = string
  default     = "xki-proxy-data"
}

# Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET.
provider "kms" {
  endpoint     = var.endpoint
  ca_cert_file = var.ca_cert_file
  region       = "cn-hangzhou"
}

resource "kms_instance" "external" {
  management_type     = "external"
  compute_performance = 1000
  name                = "external-keys"
}

# Over the public endpoint (the proxy's domain name), configured by the proxy's configuration
# file (S42), which carries its path, certificate fingerprint and access key pair.
resource "kms_external_proxy" "hsm" {
  instance_id = kms_instance.external.id
  vpc_id      = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" },
  ]
  connectivity      = "public_endpoint"
  proxy_domain_name = "xki-proxy.mockcloud.test"
  config_file       = file("${var.xki_proxy_dir}/xki-proxy-config.json")
}

resource "kms_key" "external" {
  instance_id = kms_external_proxy.hsm.id
  description = "material held by the XKI proxy"
}

output "instance_id" {
  value = kms_external_proxy.hsm.id
}

output "key_id" {
  value = kms_key.external.id
}

output "proxy" {
  value = "${kms_external_proxy.hsm.proxy_vendor}, ${kms_external_proxy.hsm.proxy_status}"
}

output "status" {
  value = kms_external_proxy.hsm.status
}
