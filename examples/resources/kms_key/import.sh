# A key is imported by its id.
terraform import kms_key.data key-hzz62f1cb66fa42qo0000
