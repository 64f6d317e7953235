# Read an instance by id, e.g. one managed by another configuration, to hand its endpoint and
# CA certificate to an application. Here the instance is created alongside.
resource "kms_instance" "app" {
  management_type     = "software"
  compute_performance = 1000
  name                = "app-keys"
  vpc_id              = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-h", vswitch_id = "vsw-china-cn-hangzhou-h" },
  ]
}

data "kms_instance" "app" {
  id = kms_instance.app.id
}

output "endpoint" {
  value = data.kms_instance.app.endpoint
}

output "ca_certificate_pem" {
  value = data.kms_instance.app.ca_certificate_pem
}
