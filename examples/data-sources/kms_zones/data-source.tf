# The zones of the provider's region with the vSwitches of one VPC, to pick valid zone/vSwitch
# pairs for a software instance: here the first two zones that have a vSwitch with a free IP.
data "kms_zones" "hangzhou" {
  vpc_id = "vpc-china-cn-hangzhou"
}

locals {
  usable = [
    for z in data.kms_zones.hangzhou.zones : {
      zone_id    = z.zone_id
      vswitch_id = [for v in z.vswitches : v.vswitch_id if v.free_ips > 0][0]
    } if length([for v in z.vswitches : v if v.free_ips > 0]) > 0
  ]
}

resource "kms_instance" "picked" {
  management_type     = "software"
  compute_performance = 1000
  vpc_id              = data.kms_zones.hangzhou.vpc_id
  zones               = slice(local.usable, 0, 2)
}

output "zone_ids" {
  value = data.kms_zones.hangzhou.zone_ids
}

output "picked_zones" {
  value = kms_instance.picked.zone_ids
}
