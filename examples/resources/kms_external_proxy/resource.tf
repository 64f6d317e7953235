# An external instance is bought by kms_instance and enabled by connecting it to the XKI proxy in
# front of your own HSM. Against mockcloud, start the proxy emulator first:
#   mockcloud xki-proxy --data-dir xki-proxy-data
# It writes ready.json (address, path, fingerprint, access key id) into its data directory.

variable "xki_proxy_dir" {
  description = "The data directory of `mockcloud xki-proxy`."
  type        = string
  default     = "xki-proxy-data"
}

variable "xki_access_key_secret" {
  description = "The proxy's access key secret (the emulator's well-known default)."
  type        = string
  sensitive   = true
  default     = "mock-xki-access-key-secret"
}

locals {
  proxy = jsondecode(file("${var.xki_proxy_dir}/ready.json"))
}

resource "kms_instance" "external" {
  management_type     = "external"
  compute_performance = 1000
}

# Through a VPC endpoint service (S41): it has the instance's zones (cn-hangzhou-k and -j), lists
# the account on its allowlist and accepts connections automatically. Manual configuration (S42).
resource "kms_external_proxy" "example" {
  instance_id = kms_instance.external.id
  vpc_id      = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" },
    { zone_id = "cn-hangzhou-j", vswitch_id = "vsw-china-cn-hangzhou-j" },
  ]
  connectivity            = "vpc_endpoint_service"
  endpoint_service_id     = "epsrv-xki-hangzhou"
  proxy_path              = local.proxy.path
  certificate_fingerprint = local.proxy.fingerprint
  access_key_id           = local.proxy.access_key_id
  access_key_secret       = var.xki_access_key_secret
}

# Only symmetric keys live in an external instance; their material never leaves the proxy (S45).
resource "kms_key" "external" {
  instance_id = kms_external_proxy.example.id
}
