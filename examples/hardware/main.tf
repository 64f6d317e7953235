# Hardware key management with manual certificates (S32), against mockcloud.
#
# Generate a matching certificate set for the cluster first, like the real certificate tool:
#   mockcloud hsm-certs --data-dir <the mock's data dir> --cluster hsm-hangzhou-manual --out certs
# which writes certs/client.p12 (password 12345678) and certs/rootca.pem.
# Credentials and endpoint: as in examples/quickstart.

variable "certs_dir" {
  description = "Where mockcloud hsm-certs wrote client.p12 and rootca.pem."
  type        = string
  default     = "certs"
}

variable "client_password" {
  type      = string
  sensitive = true
  default   = "12345678"
}

resource "kms_instance" "hardware" {
  management_type     = "hardware"
  compute_performance = 1000
  secret_quota        = 10 # with a secret quota, enablement takes about 30 minutes (S35)
}

resource "kms_hsm_binding" "manual" {
  instance_id            = kms_instance.hardware.id
  hsm_cluster_id         = "hsm-hangzhou-manual"
  client_p12             = filebase64("${var.certs_dir}/client.p12")
  client_password        = var.client_password
  security_domain_ca_pem = file("${var.certs_dir}/rootca.pem")
}

resource "kms_key" "hsm" {
  instance_id = kms_hsm_binding.manual.id
}

output "protection_level" {
  value = kms_key.hsm.protection_level
}
