# An external proxy connection is imported by its instance id. The access key secret and the
# configuration file are never returned by the API: after the import, the next plan takes them
# from the configuration without any call.
terraform import kms_external_proxy.example kst-hzz62d8f5e0sgtx8h0000
