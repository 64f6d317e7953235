# A dual-zone software instance with both zones chosen, log analysis and automatic renewal.
resource "kms_instance" "example" {
  management_type         = "software"
  region                  = "cn-shanghai"
  deployment_mode         = "dual_zone"
  compute_performance     = 2000
  key_quota               = 2000
  secret_quota            = 500
  access_management_quota = 3
  log_analysis            = true
  log_storage_gb          = 1000
  subscription_months     = 12
  auto_renew              = true
  auto_renew_months       = 12
  instance_backup         = true
  name                    = "payments/prod"

  vpc_id = "vpc-china-cn-shanghai"
  zones = [
    { zone_id = "cn-shanghai-e", vswitch_id = "vsw-china-cn-shanghai-e" },
    { zone_id = "cn-shanghai-f", vswitch_id = "vsw-china-cn-shanghai-f" },
  ]

  timeouts {
    create = "60m"
  }
}
