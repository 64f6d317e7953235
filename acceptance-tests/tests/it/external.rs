//! `kms_external_proxy`: external instances connected to the in-process XKI proxy emulator
//! (S40–S45): both connectivity modes, both configuration styles, each refusal, the timing, and
//! keys whose every cryptographic operation goes through the proxy.

use std::time::Duration;

use acceptance_tests::{Harness, XkiProxy};
use serde_json::Value;

const ADDR: &str = "kms_external_proxy.test";

fn external(extra: &str) -> String {
    format!(
        r#"
resource "kms_instance" "ext" {{
  management_type     = "external"
  compute_performance = 1000
{extra}
}}
"#
    )
}

/// The fingerprint the way people paste it: upper case with colons.
fn colon_fingerprint(p: &XkiProxy) -> String {
    p.fingerprint()
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// A public-endpoint connection with the manual configuration.
fn public_manual(fingerprint: &str, secret: &str, extra: &str) -> String {
    format!(
        r#"
resource "kms_external_proxy" "test" {{
  instance_id             = kms_instance.ext.id
  vpc_id                  = "vpc-china-cn-hangzhou"
  zones                   = [{{ zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" }}]
  connectivity            = "public_endpoint"
  proxy_domain_name       = "xki-proxy.mockcloud.test"
  proxy_path              = "/xki"
  certificate_fingerprint = "{fingerprint}"
  access_key_id           = "mock-xki-access-key-id"
  access_key_secret       = "{secret}"
{extra}
}}
"#
    )
}

/// A connection through an endpoint service of cn-hangzhou-k and -j with the configuration file.
fn service_config_file(service: &str, extra: &str) -> String {
    format!(
        r#"
resource "kms_external_proxy" "test" {{
  instance_id = kms_instance.ext.id
  vpc_id      = "vpc-china-cn-hangzhou"
  zones = [
    {{ zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" }},
    {{ zone_id = "cn-hangzhou-j", vswitch_id = "vsw-china-cn-hangzhou-j" }},
  ]
  connectivity        = "vpc_endpoint_service"
  endpoint_service_id = "{service}"
  config_file         = file(var.config_file)
{extra}
}}

variable "config_file" {{
  type = string
}}
"#
    )
}

fn instance_status(h: &Harness, id: &str) -> Value {
    h.kms("GetKmsInstance", &[("KmsInstanceId", id)]).body["KmsInstance"].clone()
}

#[test]
fn public_endpoint_manual_connection_encrypts_through_the_proxy_and_survives_its_outage() {
    let h = Harness::start_with(|c| c.xki_timeout = Duration::from_millis(1500));
    let mut proxy = h.start_xki_proxy(|_| {});
    let fingerprint = colon_fingerprint(&proxy);
    let key = "\nresource \"kms_key\" \"ext\" {\n  instance_id = kms_external_proxy.test.id\n}\n";
    let config = format!(
        "{}{}{key}",
        external(""),
        public_manual(&fingerprint, "mock-xki-access-key-secret", "")
    );
    h.config(&config);
    let out = h.apply();
    assert!(
        !out.all().contains("mock-xki-access-key-secret"),
        "{}",
        out.all()
    );
    let a = h.attrs(ADDR);
    assert_eq!(a["status"], "Connected", "{a}");
    assert_eq!(a["proxy_status"], "Reachable");
    assert_eq!(a["proxy_vendor"], "Jiangnan Tianan");
    assert_eq!(a["connectivity"], "public_endpoint");
    // The configured spelling of the fingerprint stays: no diff against the API's lowercase hex.
    assert_eq!(a["certificate_fingerprint"], fingerprint.as_str());
    h.assert_plan_empty();
    let instance = a["id"].as_str().unwrap().to_string();
    let api = instance_status(&h, &instance);
    assert_eq!(
        api["XkiCertificateFingerprint"],
        proxy.fingerprint().as_str()
    );

    // A key of the instance encrypts and decrypts through the proxy.
    let key_id = h.attrs("kms_key.ext")["id"].as_str().unwrap().to_string();
    let enc = h.kms(
        "Encrypt",
        &[("KeyId", &key_id), ("Plaintext", "held off-cloud")],
    );
    assert_eq!(enc.status, 200, "{}", enc.body);
    let blob = enc.body["CiphertextBlob"].as_str().unwrap().to_string();
    let dec = h.kms("Decrypt", &[("CiphertextBlob", &blob)]);
    assert_eq!(dec.body["Plaintext"], "held off-cloud", "{}", dec.body);

    // Proxy down: every operation fails with a clear error, nothing falls back, nothing breaks.
    proxy.stop();
    let enc = h.kms("Encrypt", &[("KeyId", &key_id), ("Plaintext", "x")]);
    assert_eq!(
        enc.body["Code"], "Rejected.XkiProxyUnavailable",
        "{}",
        enc.body
    );
    let dec = h.kms("Decrypt", &[("CiphertextBlob", &blob)]);
    assert_eq!(
        dec.body["Code"], "Rejected.XkiProxyUnavailable",
        "{}",
        dec.body
    );
    let api = instance_status(&h, &instance);
    assert_eq!(api["Status"], "Connected", "{api}");
    assert_eq!(api["XkiProxyStatus"], "Unreachable", "{api}");
    let described = h.kms("DescribeKey", &[("KeyId", &key_id)]);
    assert_eq!(described.body["KeyMetadata"]["KeyState"], "Enabled");
    // A refresh shows the outage as a warning and plans nothing.
    let plan = h.plan();
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(plan.all().contains("is unreachable"), "{}", plan.all());

    // Proxy back: the old ciphertext decrypts again.
    proxy.restart();
    let dec = h.kms("Decrypt", &[("CiphertextBlob", &blob)]);
    assert_eq!(dec.body["Plaintext"], "held off-cloud", "{}", dec.body);
    assert_eq!(
        instance_status(&h, &instance)["XkiProxyStatus"],
        "Reachable"
    );

    // Import: only the values the API never returns come from the configuration.
    assert_eq!(h.tf(&["state", "rm", ADDR]).code, 0);
    let imp = h.tf(&["import", "-input=false", "-no-color", ADDR, &instance]);
    assert_eq!(imp.code, 0, "{}", imp.all());
    let plan = h.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout.contains("0 to add, 1 to change, 0 to destroy"),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.all().contains("mock-xki-access-key-secret"),
        "{}",
        plan.all()
    );
    h.apply();
    h.assert_plan_empty();

    // Arguments cannot change in place.
    h.config(&config.replace(
        "proxy_path              = \"/xki\"",
        "proxy_path = \"/other\"",
    ));
    let plan = h.plan();
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains("proxy_path cannot change") && plan.stderr.contains("-replace"),
        "{}",
        plan.stderr
    );

    // Replacing the instance, as that advice says, connects the new instance afresh.
    h.config(&config);
    let r = h.tf(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-replace=kms_instance.ext",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let a = h.attrs(ADDR);
    assert_ne!(a["id"], instance.as_str(), "{a}");
    assert_eq!(a["status"], "Connected", "{a}");
    assert_eq!(
        h.attrs("kms_key.ext")["instance_id"],
        a["id"],
        "the key moved with the instance"
    );
    h.assert_plan_empty();

    // Destroy forgets the connection and refunds the instance.
    let out = h.destroy();
    assert!(out.all().contains("forgotten, not undone"), "{}", out.all());
    let total = h
        .bss("QueryAvailableInstances", &[("ProductCode", "kms")])
        .body["Data"]["TotalCount"]
        .clone();
    assert_eq!(total, 0);
}

#[test]
fn each_refusal_names_its_cause_and_leaves_the_instance_uninitialized() {
    let mut h = Harness::start();
    let proxy = h.start_xki_proxy(|_| {});
    h.set_env(
        "TF_VAR_config_file",
        &proxy
            .dir()
            .join("xki-proxy-config.json")
            .display()
            .to_string(),
    );
    h.config(&external(""));
    h.apply();
    let instance = h.attrs("kms_instance.ext")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let good = proxy.fingerprint();

    let refused = |h: &Harness, config: &str, code: &str, also: &str| {
        h.config(&format!("{}{config}", external("")));
        let out = h.apply_fails();
        assert!(out.all().contains(code), "{code}:\n{}", out.all());
        assert!(out.all().contains(also), "{also}:\n{}", out.all());
        assert_eq!(
            instance_status(h, &instance)["Status"],
            "Uninitialized",
            "{code}"
        );
        out
    };
    refused(
        &h,
        &service_config_file("epsrv-xki-hangzhou-other-zones", ""),
        "InvalidParameter.XkiEndpointServiceZones",
        "S41",
    );
    refused(
        &h,
        &service_config_file("epsrv-xki-hangzhou-private", ""),
        "Forbidden.XkiEndpointServiceAllowlist",
        "allowlist",
    );
    refused(
        &h,
        &service_config_file("epsrv-xki-hangzhou-manual-accept", ""),
        "Rejected.XkiEndpointServiceAutoAccept",
        "automatically",
    );
    refused(
        &h,
        &public_manual(&"00".repeat(32), "mock-xki-access-key-secret", ""),
        "InvalidParameter.XkiCertificateFingerprint",
        &good,
    );
    let out = refused(
        &h,
        &public_manual(&good, "wrong-secret-value", ""),
        "InvalidParameter.XkiAccessKey",
        "access_key_secret",
    );
    assert!(!out.all().contains("wrong-secret-value"), "{}", out.all());

    // A malformed configuration file is refused at plan time, naming the field.
    let broken = h.dir().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"ProxyPath": "/xki", "CertificateFingerprint": "ab"}"#,
    )
    .unwrap();
    h.config(&format!(
        "{}{}",
        external(""),
        service_config_file("epsrv-xki-hangzhou", "").replace(
            "file(var.config_file)",
            &format!("file({:?})", broken.display().to_string())
        )
    ));
    let plan = h.plan();
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains("Invalid config_file")
            && plan.stderr.contains("AccessKeyId is missing"),
        "{}",
        plan.stderr
    );

    // S40: a proxy in front of another vendor's HSM is refused when connecting.
    drop(proxy);
    let other = h.start_xki_proxy(|c| c.vendor = "SafeNet Luna".into());
    refused(
        &h,
        &public_manual(&other.fingerprint(), "mock-xki-access-key-secret", ""),
        "Forbidden.XkiVendorNotSupported",
        "SafeNet Luna",
    );

    // With everything right, the same instance connects through the endpoint service.
    drop(other);
    let right = h.start_xki_proxy(|_| {});
    h.set_env(
        "TF_VAR_config_file",
        &right
            .dir()
            .join("xki-proxy-config.json")
            .display()
            .to_string(),
    );
    h.config(&format!(
        "{}{}",
        external(""),
        service_config_file("epsrv-xki-hangzhou", "")
    ));
    h.apply();
    let a = h.attrs(ADDR);
    assert_eq!(a["status"], "Connected", "{a}");
    assert_eq!(a["connectivity"], "vpc_endpoint_service");
    assert_eq!(
        a["zone_ids"],
        serde_json::json!(["cn-hangzhou-k", "cn-hangzhou-j"])
    );
    h.assert_plan_empty();
}

#[test]
fn enablement_takes_ten_minutes_without_a_secret_quota_and_thirty_with_one() {
    // At 120x, 10 minutes take 5 s and 30 take 15 s: a 10 s create timeout tells them apart.
    let timeout = "  timeouts {\n    create = \"10s\"\n  }\n";
    let h = Harness::start_with(|c| c.time_scale = 120.0);
    let proxy = h.start_xki_proxy(|_| {});
    h.config(&format!(
        "{}{}",
        external(""),
        public_manual(&proxy.fingerprint(), "mock-xki-access-key-secret", timeout)
    ));
    h.apply();
    assert_eq!(h.attrs(ADDR)["status"], "Connected");

    let h = Harness::start_with(|c| c.time_scale = 120.0);
    let proxy = h.start_xki_proxy(|_| {});
    h.config(&format!(
        "{}{}",
        external("  secret_quota = 10"),
        public_manual(&proxy.fingerprint(), "mock-xki-access-key-secret", timeout)
    ));
    let out = h.apply_fails();
    assert!(out.all().contains("still Connecting"), "{}", out.all());
    // The tainted resource is replaced by waiting for the enablement under way, not by a
    // second enablement (which the cloud would refuse).
    let out = h.apply();
    assert!(out.all().contains("already connected"), "{}", out.all());
    assert_eq!(h.attrs(ADDR)["status"], "Connected");
}
