//! Compatibility with the official Alibaba Cloud Python SDKs (design section 7): the script
//! `tests/sdk/compat.py` drives the mock with alibabacloud-bssopenapi20171214 and
//! alibabacloud-kms20160120 (ACS3, and v1 with `signature_algorithm='v2'`) and the legacy
//! aliyun-python-sdk-kms (v1 HMAC-SHA1), all over HTTPS verifying the mock's CA: purchase,
//! enablement, then the data plane (keys, encrypt, decrypt, a data key, sign and verify with
//! EC_P256, a secret).

use mockcloud::ServerConfig;

use crate::harness::{client_for, listed_ids};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/compat.py");

fn sdk_python() -> String {
    match std::env::var("MOCKCLOUD_SDK_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "MOCKCLOUD_SDK_PYTHON is not set: run `cargo xtask test`, which installs the Alibaba \
             Cloud Python SDK into target/sdk-venv and sets it (or point it at a Python that has \
             alibabacloud-kms20160120, alibabacloud-bssopenapi20171214 and aliyun-python-sdk-kms)"
        ),
    }
}

#[tokio::test]
async fn sdk_lists_and_gets_instance_over_https() {
    let python = sdk_python();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::new(dir.path());
    // 3000 simulated seconds per second: the 1-5 minute visibility delay passes in at most 0.1 s
    // and the 30-minute enablement in 0.6 s, while the script polls as a real client would.
    cfg.time_scale = 3000.0;
    cfg.seed = Some(7);
    let server = mockcloud::start(cfg).await.unwrap();
    let ca_file = server.ca_file.clone().expect("HTTPS with a CA file");

    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(SCRIPT)
        .args(["--endpoint", &server.addr.to_string()])
        .arg("--ca")
        .arg(&ca_file)
        .args(["--ak", &server.access_key_id])
        .args(["--secret", &server.access_key_secret]);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALIBABA_CLOUD_CA_BUNDLE",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {python} (MOCKCLOUD_SDK_PYTHON): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "compat.py failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    for line in [
        "ok: BSS CreateInstance returns a kst- instance id",
        "ok: the same ClientToken returns the same instance",
        "ok: ZoneIds is a list of the requested zones",
        "ok: the KMS SDK with signature_algorithm='v2' (v1 HMAC-SHA1) lists it",
        "ok: an unknown id raises Forbidden.DKMSInstanceNotFound (403)",
        "ok: a wrong secret raises SignatureDoesNotMatch (400)",
        "ok: legacy AcsClient (v1 HMAC-SHA1) lists the instance",
        "ok: legacy SDK recognises the server string to sign (InvalidAccessKeySecret)",
        // The "done when": the data plane through the official SDK.
        "ok: CreateKey makes an Aliyun_AES_256 key in the instance",
        "ok: Decrypt returns the plaintext (context in another order)",
        "ok: the data key's blob decrypts to its base64 text",
        "ok: AsymmetricVerify accepts the signature (Value is the bool True)",
        "ok: the signature verifies with the cryptography package against GetPublicKey's PEM",
        "ok: CreateSecret then GetSecretValue returns the value (SecretData sent in the form body)",
        "ok: GetKmsInstanceQuotaInfos counts the two key versions",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("all SDK checks passed for "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"))
        .trim()
        .to_string();

    // What the SDK did is what the mock holds.
    let client = client_for(&server);
    let listed = client.kms("ListKmsInstances", &[]).await.unwrap();
    assert_eq!(listed_ids(&listed.body), [id.as_str()]);
    let got = client
        .kms("GetKmsInstance", &[("KmsInstanceId", &id)])
        .await
        .unwrap();
    assert_eq!(got.body["KmsInstance"]["Status"], "Connected");
    server.shutdown().await;
}
