# A KMS instance is imported by its id. subscription_months is derived from the subscription
# dates; everything else is read back from the API.
terraform import kms_instance.example kst-hzz62d8f5e0sgtx8h0000
