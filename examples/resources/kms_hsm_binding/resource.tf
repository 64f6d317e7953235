# A hardware instance is bought by kms_instance and enabled by binding it to an HSM cluster.
resource "kms_instance" "hardware" {
  management_type     = "hardware"
  compute_performance = 1000
}

# A Chinese mainland cluster with automatic certificates: nothing to configure (S32).
resource "kms_hsm_binding" "example" {
  instance_id    = kms_instance.hardware.id
  hsm_cluster_id = "hsm-hangzhou-auto"
}

# Keys in the instance are HSM-protected once it is Connected.
resource "kms_key" "hsm" {
  instance_id = kms_hsm_binding.example.id
}
