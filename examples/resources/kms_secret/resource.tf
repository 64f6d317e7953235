# Secrets live in a Connected instance with a secret quota (S05), encrypted by one of its keys.
resource "kms_instance" "secrets" {
  management_type     = "software"
  compute_performance = 1000
  secret_quota        = 10
  vpc_id              = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" },
  ]
}

resource "kms_key" "secrets" {
  instance_id = kms_instance.secrets.id
}

variable "db_password" {
  type      = string
  sensitive = true
  default   = "change-me-0f1e2d"
}

resource "kms_secret" "db" {
  name              = "prod/db/password"
  encryption_key_id = kms_key.secrets.id
  value             = var.db_password
  description       = "database password"
  force_delete      = true
}
