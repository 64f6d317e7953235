"""Drives mockcloud with the official Alibaba Cloud Python SDKs, unchanged, over HTTPS.

It buys and enables an instance, then uses it as an application would: keys, Encrypt/Decrypt,
a data key, ECDSA sign/verify (the digest hashed here with hashlib, the signature also checked
with the `cryptography` package against GetPublicKey's PEM) and a secret.

Proves the mock speaks the real protocol: the tea-openapi based SDKs (alibabacloud-kms20160120,
alibabacloud-bssopenapi20171214) sign with ACS3-HMAC-SHA256 by default and with v1 HMAC-SHA1 when
configured with signature_algorithm='v2'; the legacy aliyun-python-sdk-kms (AcsClient) signs with
v1 HMAC-SHA1. All of them verify the mock's certificate against its CA file (tea: Config.ca;
AcsClient: verify=); certificate checks are never switched off.

Run by the Rust test `sdk_lists_and_gets_instance_over_https` (mockcloud/tests/it/sdk.rs), which
starts the mock with a fast clock. Usage:

    python compat.py --endpoint 127.0.0.1:PORT --ca CA.pem --ak ID --secret SECRET

Each check prints one `ok: ...` line; the first mismatch prints `FAIL: ...` and exits 1.
"""

import argparse
import base64
import hashlib
import json
import sys
import time
import uuid

from alibabacloud_bssopenapi20171214 import models as bss_models
from alibabacloud_bssopenapi20171214.client import Client as BssClient
from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.GetKmsInstanceRequest import GetKmsInstanceRequest
from aliyunsdkkms.request.v20160120.ListKmsInstancesRequest import ListKmsInstancesRequest

REGION = "cn-hangzhou"
ZONES = ["cn-hangzhou-h", "cn-hangzhou-j"]
VPC = "vpc-china-cn-hangzhou"
VSWITCHES = ["vsw-china-cn-hangzhou-h", "vsw-china-cn-hangzhou-j"]
# Simulated minutes pass quickly (the Rust side starts the mock with a high time scale), but a
# slow machine still gets this much real time before a wait counts as failed.
WAIT_SECONDS = 30


class Mismatch(Exception):
    pass


def check(condition, what, got=None):
    if not condition:
        raise Mismatch(f"{what} (got {got!r})")
    print(f"ok: {what}")


def tea_config(args, secret=None, signature_algorithm=None):
    # `ca` is handed to requests as `verify=`: a path to the CA bundle the server must chain to.
    return Config(
        access_key_id=args.ak,
        access_key_secret=secret or args.secret,
        endpoint=args.endpoint,
        protocol="https",
        region_id=REGION,
        ca=args.ca,
        signature_algorithm=signature_algorithm,
    )


def tea_error(call):
    """Runs `call`, expecting the SDK to raise; returns the exception."""
    try:
        call()
    except Exception as e:  # the SDK raises ClientException / ServerException subclasses
        return e
    raise Mismatch("the call was expected to fail but succeeded")


def wait_for(what, probe):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise Mismatch(f"timed out waiting for {what}")
        time.sleep(0.05)


def buy_with_bss(args):
    bss = BssClient(tea_config(args))
    params = [
        ("Region", REGION),
        ("ProductVersion", "3"),
        ("Spec", "1000"),
        ("KeyNum", "1000"),
        ("SecretNum", "5"),
        ("VpcNum", "1"),
        ("Log", "0"),
        ("LogStorage", "0"),
    ]
    token = str(uuid.uuid4())
    request = bss_models.CreateInstanceRequest(
        product_code="kms",
        subscription_type="Subscription",
        period=1,
        client_token=token,
        parameter=[bss_models.CreateInstanceRequestParameter(code=c, value=v) for c, v in params],
    )
    body = bss.create_instance(request).body
    check(body.success is True and body.code == "Success", "BSS CreateInstance succeeds", body.code)
    instance_id = body.data.instance_id
    check(instance_id.startswith("kst-"), "BSS CreateInstance returns a kst- instance id", instance_id)

    again = bss.create_instance(request).body
    check(again.data.instance_id == instance_id, "the same ClientToken returns the same instance",
          again.data.instance_id)

    listed = bss.query_available_instances(
        bss_models.QueryAvailableInstancesRequest(product_code="kms", instance_ids=instance_id)
    ).body.data
    check(listed.total_count == 1 and len(listed.instance_list) == 1,
          "BSS QueryAvailableInstances lists the one purchase", listed.total_count)
    item = listed.instance_list[0]
    check(item.instance_id == instance_id and item.region == REGION,
          "QueryAvailableInstances item carries InstanceID and Region", (item.instance_id, item.region))
    check(item.renew_status == "ManualRenewal", "RenewStatus defaults to ManualRenewal", item.renew_status)
    return instance_id


def kms_checks(args, instance_id):
    kms = KmsClient(tea_config(args))

    def visible():
        try:
            return kms.get_kms_instance(kms_models.GetKmsInstanceRequest(kms_instance_id=instance_id))
        except Exception as e:
            if getattr(e, "code", None) == "Forbidden.DKMSInstanceNotFound":
                return None
            raise

    wait_for("the purchased instance to become visible in KMS", visible)
    print("ok: the purchased instance becomes visible to GetKmsInstance")

    kms.connect_kms_instance(kms_models.ConnectKmsInstanceRequest(
        kms_instance_id=instance_id,
        kmprovider="Aliyun",
        vpc_id=VPC,
        zone_ids=",".join(ZONES),
        v_switch_ids=",".join(VSWITCHES),
    ))
    print("ok: ConnectKmsInstance accepted")

    def connected():
        inst = kms.get_kms_instance(
            kms_models.GetKmsInstanceRequest(kms_instance_id=instance_id)).body.kms_instance
        return inst if inst.status == "Connected" else None

    inst = wait_for("the instance to reach Connected", connected)
    check(inst.instance_id == instance_id, "GetKmsInstance returns the instance id", inst.instance_id)
    check(inst.status == "Connected", "status is Connected", inst.status)
    check(isinstance(inst.zone_ids, list) and inst.zone_ids == ZONES,
          "ZoneIds is a list of the requested zones", inst.zone_ids)
    check(isinstance(inst.vswitch_ids, list) and inst.vswitch_ids == VSWITCHES,
          "VswitchIds is a list of the requested vSwitches", inst.vswitch_ids)
    check(inst.vpc_id == VPC, "VpcId is the requested VPC", inst.vpc_id)
    check(inst.spec == 1000 and isinstance(inst.spec, int), "Spec is the number 1000", inst.spec)
    check(inst.key_num == 1000, "KeyNum is 1000", inst.key_num)
    check(inst.secret_num == "5", "SecretNum is the string \"5\"", inst.secret_num)
    check(inst.deletion_protection is False, "DeletionProtection is the bool false", inst.deletion_protection)
    with open(args.ca, encoding="utf-8") as f:
        ca_pem = f.read()
    check(inst.ca_certificate_chain_pem.strip() == ca_pem.strip(),
          "CaCertificateChainPem is the mock's CA", inst.ca_certificate_chain_pem[:40])

    body = kms.list_kms_instances(kms_models.ListKmsInstancesRequest(page_number=1, page_size=10)).body
    ids = [i.kms_instance_id for i in body.kms_instances.kms_instance]
    check(body.total_count == 1 and ids == [instance_id], "ListKmsInstances lists the instance", ids)
    arn = body.kms_instances.kms_instance[0].kms_instance_arn
    check(arn.endswith(":keystore/" + instance_id) and arn.startswith(f"acs:kms:{REGION}:"),
          "ListKmsInstances gives the keystore ARN", arn)

    # The same SDK in its legacy mode: v1 HMAC-SHA1 in the query, `Format=json`.
    v1 = KmsClient(tea_config(args, signature_algorithm="v2"))
    body = v1.list_kms_instances(kms_models.ListKmsInstancesRequest()).body
    ids = [i.kms_instance_id for i in body.kms_instances.kms_instance]
    check(ids == [instance_id], "the KMS SDK with signature_algorithm='v2' (v1 HMAC-SHA1) lists it", ids)

    e = tea_error(lambda: kms.get_kms_instance(
        kms_models.GetKmsInstanceRequest(kms_instance_id="kst-doesnotexist")))
    check(getattr(e, "code", None) == "Forbidden.DKMSInstanceNotFound"
          and getattr(e, "status_code", None) == 403,
          "an unknown id raises Forbidden.DKMSInstanceNotFound (403)",
          (getattr(e, "code", None), getattr(e, "status_code", None)))

    wrong = KmsClient(tea_config(args, secret="not-the-secret"))
    e = tea_error(lambda: wrong.list_kms_instances(kms_models.ListKmsInstancesRequest()))
    check(getattr(e, "code", None) == "SignatureDoesNotMatch" and getattr(e, "status_code", None) == 400,
          "a wrong secret raises SignatureDoesNotMatch (400)",
          (getattr(e, "code", None), getattr(e, "status_code", None)))


def data_plane_checks(args, instance_id):
    """The issue's round trip: keys in the instance, encrypt, decrypt, a data key, sign and
    verify with an EC_P256 key, a secret created and read."""
    kms = KmsClient(tea_config(args))

    key = kms.create_key(kms_models.CreateKeyRequest(
        dkmsinstance_id=instance_id, key_spec="Aliyun_AES_256", description="sdk")).body.key_metadata
    check(key.key_id.startswith("key-") and key.dkmsinstance_id == instance_id,
          "CreateKey makes an Aliyun_AES_256 key in the instance", (key.key_id, key.dkmsinstance_id))
    check(key.protection_level == "SOFTWARE" and key.key_usage == "ENCRYPT/DECRYPT",
          "the key is SOFTWARE, ENCRYPT/DECRYPT", (key.protection_level, key.key_usage))
    described = kms.describe_key(kms_models.DescribeKeyRequest(key_id=key.key_id)).body.key_metadata
    check(described.key_state == "Enabled" and described.deletion_protection == "Disabled",
          "DescribeKey shows it Enabled", (described.key_state, described.deletion_protection))

    context = {"purpose": "sdk-test", "tenant": "ü 1"}
    enc = kms.encrypt(kms_models.EncryptRequest(
        key_id=key.key_id, plaintext="hello from the SDK", encryption_context=context)).body
    check(enc.key_id == key.key_id and len(enc.key_version_id) == 36,
          "Encrypt names the key and its 36-character version", (enc.key_id, enc.key_version_id))
    blob = base64.b64decode(enc.ciphertext_blob)
    check(blob[:36].decode() == enc.key_version_id, "the blob starts with the key version id", blob[:36])
    dec = kms.decrypt(kms_models.DecryptRequest(
        ciphertext_blob=enc.ciphertext_blob, encryption_context=dict(reversed(list(context.items()))))).body
    check(dec.plaintext == "hello from the SDK", "Decrypt returns the plaintext (context in another order)",
          dec.plaintext)
    e = tea_error(lambda: kms.decrypt(kms_models.DecryptRequest(
        ciphertext_blob=enc.ciphertext_blob, encryption_context={"purpose": "other"})))
    check(getattr(e, "code", None) == "InvalidParameter" and getattr(e, "status_code", None) == 400,
          "Decrypt with another context raises InvalidParameter (400)",
          (getattr(e, "code", None), getattr(e, "status_code", None)))

    dk = kms.generate_data_key(kms_models.GenerateDataKeyRequest(key_id=key.key_id, number_of_bytes=32)).body
    check(len(base64.b64decode(dk.plaintext)) == 32, "GenerateDataKey returns 32 bytes in base64", dk.plaintext)
    opened = kms.decrypt(kms_models.DecryptRequest(ciphertext_blob=dk.ciphertext_blob)).body
    check(opened.plaintext == dk.plaintext, "the data key's blob decrypts to its base64 text", opened.plaintext)

    ec = kms.create_key(kms_models.CreateKeyRequest(
        dkmsinstance_id=instance_id, key_spec="EC_P256", key_usage="SIGN/VERIFY")).body.key_metadata
    check(ec.key_spec == "EC_P256" and ec.key_usage == "SIGN/VERIFY", "CreateKey makes an EC_P256 signing key",
          (ec.key_spec, ec.key_usage))
    message = b"a message signed through the SDK"
    digest = base64.b64encode(hashlib.sha256(message).digest()).decode()
    signed = kms.asymmetric_sign(kms_models.AsymmetricSignRequest(
        key_id=ec.key_id, key_version_id=ec.primary_key_version, algorithm="ECDSA_SHA_256", digest=digest)).body
    verified = kms.asymmetric_verify(kms_models.AsymmetricVerifyRequest(
        key_id=ec.key_id, key_version_id=ec.primary_key_version, algorithm="ECDSA_SHA_256", digest=digest,
        value=signed.value)).body
    check(verified.value is True, "AsymmetricVerify accepts the signature (Value is the bool True)",
          verified.value)
    other = base64.b64encode(hashlib.sha256(b"another message").digest()).decode()
    refused = kms.asymmetric_verify(kms_models.AsymmetricVerifyRequest(
        key_id=ec.key_id, key_version_id=ec.primary_key_version, algorithm="ECDSA_SHA_256", digest=other,
        value=signed.value)).body
    check(refused.value is False, "AsymmetricVerify rejects it for another digest", refused.value)
    pem = kms.get_public_key(kms_models.GetPublicKeyRequest(
        key_id=ec.key_id, key_version_id=ec.primary_key_version)).body.public_key
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec as cec
    except ImportError:
        print("note: the cryptography package is missing; the signature was checked by the mock only")
    else:
        public = serialization.load_pem_public_key(pem.encode())
        public.verify(base64.b64decode(signed.value), message, cec.ECDSA(hashes.SHA256()))
        print("ok: the signature verifies with the cryptography package against GetPublicKey's PEM")

    kms.create_secret(kms_models.CreateSecretRequest(
        secret_name="sdk/db-password", version_id="v1", secret_data="p@ss w+rd&=~",
        encryption_key_id=key.key_id, dkmsinstance_id=instance_id))
    got = kms.get_secret_value(kms_models.GetSecretValueRequest(secret_name="sdk/db-password")).body
    check(got.secret_data == "p@ss w+rd&=~" and got.version_id == "v1",
          "CreateSecret then GetSecretValue returns the value (SecretData sent in the form body)",
          (got.secret_data, got.version_id))
    check(got.version_stages.version_stage == ["ACSCurrent"], "the first version is ACSCurrent",
          got.version_stages.version_stage)
    kms.put_secret_value(kms_models.PutSecretValueRequest(
        secret_name="sdk/db-password", version_id="v2", secret_data="rotated"))
    got = kms.get_secret_value(kms_models.GetSecretValueRequest(secret_name="sdk/db-password")).body
    check(got.secret_data == "rotated", "PutSecretValue makes the new value current", got.secret_data)

    quota = kms.get_kms_instance_quota_infos(kms_models.GetKmsInstanceQuotaInfosRequest(
        kms_instance_id=instance_id, resource_type="key")).body.kms_instance_quota_infos
    check(len(quota) == 1 and quota[0].used_quantity == 2 and quota[0].resource_quota == 1000,
          "GetKmsInstanceQuotaInfos counts the two key versions", [(q.used_quantity, q.resource_quota) for q in quota])

    # The legacy-signature mode of the same SDK decrypts too.
    v1 = KmsClient(tea_config(args, signature_algorithm="v2"))
    dec = v1.decrypt(kms_models.DecryptRequest(ciphertext_blob=enc.ciphertext_blob, encryption_context=context)).body
    check(dec.plaintext == "hello from the SDK", "Decrypt with signature_algorithm='v2' (v1 HMAC-SHA1)",
          dec.plaintext)


def legacy_checks(args, instance_id):
    # aliyun-python-sdk-core: `verify` is handed to requests, so a CA bundle path works over
    # HTTPS. The endpoint carries the port; AcsClient's own `port` stays at its default.
    client = AcsClient(args.ak, args.secret, REGION, verify=args.ca, auto_retry=False)

    def send(client, request):
        request.set_endpoint(args.endpoint)
        request.set_protocol_type("https")
        request.set_accept_format("JSON")
        return json.loads(client.do_action_with_exception(request))

    listed = send(client, ListKmsInstancesRequest())
    ids = [i["KmsInstanceId"] for i in listed["KmsInstances"]["KmsInstance"]]
    check(ids == [instance_id], "legacy AcsClient (v1 HMAC-SHA1) lists the instance", ids)

    req = GetKmsInstanceRequest()
    req.set_KmsInstanceId(instance_id)
    got = send(client, req)["KmsInstance"]
    check(got["Status"] == "Connected" and got["ZoneIds"] == ZONES,
          "legacy AcsClient gets the instance, Connected with its zones", (got["Status"], got["ZoneIds"]))

    # sdk-core compares the server's string to sign (after the one ':') with its own; only when
    # they are equal does it report InvalidAccessKeySecret.
    wrong = AcsClient(args.ak, "not-the-secret", REGION, verify=args.ca, auto_retry=False)
    try:
        send(wrong, ListKmsInstancesRequest())
        raise Mismatch("a wrong secret was accepted by the v1 verifier")
    except LegacyServerException as e:
        check(e.get_error_code() == "InvalidAccessKeySecret" and e.get_http_status() == 400,
              "legacy SDK recognises the server string to sign (InvalidAccessKeySecret)",
              (e.get_error_code(), e.get_http_status(), e.get_error_msg()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="host:port of the mock, no scheme")
    parser.add_argument("--ca", required=True, help="the mock's CA certificate file (PEM)")
    parser.add_argument("--ak", required=True, help="access key id")
    parser.add_argument("--secret", required=True, help="access key secret")
    args = parser.parse_args()
    try:
        instance_id = buy_with_bss(args)
        kms_checks(args, instance_id)
        data_plane_checks(args, instance_id)
        legacy_checks(args, instance_id)
    except Mismatch as e:
        print(f"FAIL: {e}")
        return 1
    print(f"all SDK checks passed for {instance_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
