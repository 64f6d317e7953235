# An HSM binding is imported by its instance id. Certificates and passwords are never returned by
# the API: after importing a manual-certificate binding, the next plan takes them from the
# configuration without any call.
terraform import kms_hsm_binding.example kst-hzz62d8f5e0sgtx8h0000
