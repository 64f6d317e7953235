# Keys live in a Connected instance.
resource "kms_instance" "keys" {
  management_type     = "software"
  compute_performance = 1000
  vpc_id              = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" },
  ]
}

# A symmetric key for Encrypt, Decrypt and GenerateDataKey, rotated every 90 days.
resource "kms_key" "data" {
  instance_id        = kms_instance.keys.id
  description        = "application data"
  automatic_rotation = true
  rotation_interval  = "90d"
}

# An EC P-256 key for AsymmetricSign and AsymmetricVerify.
resource "kms_key" "signing" {
  instance_id            = kms_instance.keys.id
  key_spec               = "EC_P256"
  key_usage              = "SIGN/VERIFY"
  pending_window_in_days = 30
}
