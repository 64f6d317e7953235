# Against mockcloud: the endpoint and CA file it prints at start. Credentials come from
# ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (mockcloud prints its defaults).
terraform {
  required_providers {
    kms = {
      source = "mockcloud/kms"
    }
  }
}

provider "kms" {
  endpoint     = "https://127.0.0.1:9443"
  ca_cert_file = "mockcloud-data/tls/ca.pem"
  region       = "cn-hangzhou"
}
