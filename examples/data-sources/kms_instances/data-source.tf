# The connected software instances of the provider's region whose names start with "app-".
resource "kms_instance" "app" {
  management_type     = "software"
  compute_performance = 1000
  name                = "app-payments"
  vpc_id              = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-j", vswitch_id = "vsw-china-cn-hangzhou-j" },
  ]
}

data "kms_instances" "apps" {
  name_regex      = "^app-"
  management_type = "software"
  status          = "Connected"

  # Read after the instance above exists; without it the list is read at plan time.
  depends_on = [kms_instance.app]
}

output "app_instance_ids" {
  value = data.kms_instances.apps.ids
}

output "app_endpoints" {
  value = { for i in data.kms_instances.apps.instances : i.name => i.endpoint }
}
