# A secret is imported by its name.
terraform import kms_secret.db prod/db/password
