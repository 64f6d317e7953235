"""Drives mockcloud with the official Alibaba Cloud Python SDKs, unchanged, over HTTPS.

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
        ("SecretNum", "0"),
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
    check(inst.secret_num == "0", "SecretNum is the string \"0\"", inst.secret_num)
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
        legacy_checks(args, instance_id)
    except Mismatch as e:
        print(f"FAIL: {e}")
        return 1
    print(f"all SDK checks passed for {instance_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
