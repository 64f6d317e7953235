//! Every example in `examples/` is applied and destroyed (or, for provider-only snippets,
//! validated), so the docs never show a configuration that does not work.

use acceptance_tests::Harness;

fn bss_total(h: &Harness) -> serde_json::Value {
    h.bss("QueryAvailableInstances", &[("ProductCode", "kms")])
        .body["Data"]["TotalCount"]
        .clone()
}

#[test]
fn quickstart_example_applies_connects_and_destroys() {
    let mut h = Harness::start();
    let text = std::fs::read_to_string(Harness::examples_dir().join("quickstart/main.tf")).unwrap();
    h.config_raw(&text);
    let (endpoint, ca) = (
        h.endpoint.clone(),
        h.dir().join("ca.pem").display().to_string(),
    );
    let (ak, sk) = (h.access_key_id.clone(), h.access_key_secret.clone());
    h.set_env("TF_VAR_endpoint", &endpoint);
    h.set_env("TF_VAR_ca_cert_file", &ca);
    h.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", &ak);
    h.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &sk);
    let out = h.apply();
    assert!(
        out.stdout.contains("status = \"Connected\""),
        "{}",
        out.stdout
    );
    assert_eq!(h.attrs("kms_instance.quickstart")["secret_quota"], 100);
    h.assert_plan_empty();
    h.destroy();
    assert_eq!(bss_total(&h), 0);
}

#[test]
fn external_example_connects_through_the_proxy_emulator_and_its_key_encrypts() {
    let mut h = Harness::start();
    let proxy = h.start_xki_proxy(|_| {});
    let text = std::fs::read_to_string(Harness::examples_dir().join("external/main.tf")).unwrap();
    h.config_raw(&text);
    let (endpoint, ca) = (
        h.endpoint.clone(),
        h.dir().join("ca.pem").display().to_string(),
    );
    let (ak, sk) = (h.access_key_id.clone(), h.access_key_secret.clone());
    h.set_env("TF_VAR_endpoint", &endpoint);
    h.set_env("TF_VAR_ca_cert_file", &ca);
    h.set_env("TF_VAR_xki_proxy_dir", &proxy.dir().display().to_string());
    h.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", &ak);
    h.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &sk);
    let out = h.apply();
    assert!(
        out.stdout.contains("status = \"Connected\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("proxy = \"Jiangnan Tianan, Reachable\""),
        "{}",
        out.stdout
    );
    let key = h.attrs("kms_key.external")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let enc = h.kms("Encrypt", &[("KeyId", &key), ("Plaintext", "example")]);
    assert_eq!(enc.status, 200, "{}", enc.body);
    h.assert_plan_empty();
    h.destroy();
    assert_eq!(bss_total(&h), 0);
}

#[test]
fn resource_examples_apply_with_a_provider_block_and_destroy() {
    let dir = Harness::examples_dir().join("resources");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path().join("resource.tf");
        let body =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut h = Harness::start();
        // The external proxy example needs a running XKI proxy emulator, as its comment says.
        let proxy = body
            .contains("kms_external_proxy")
            .then(|| h.start_xki_proxy(|_| {}));
        if let Some(p) = &proxy {
            h.set_env("TF_VAR_xki_proxy_dir", &p.dir().display().to_string());
        }
        h.config(&body);
        h.apply();
        h.assert_plan_empty();
        h.destroy();
        assert_eq!(
            bss_total(&h),
            0,
            "{} left a purchase behind",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 1,
        "no resource examples found under {}",
        dir.display()
    );
}

#[test]
fn data_source_examples_apply_plan_empty_and_destroy() {
    let dir = Harness::examples_dir().join("data-sources");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path().join("data-source.tf");
        let body =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let h = Harness::start();
        h.config(&body);
        let out = h.apply();
        assert!(
            out.stdout.contains("Outputs:"),
            "{} shows no outputs:\n{}",
            path.display(),
            out.stdout
        );
        h.assert_plan_empty();
        h.destroy();
        assert_eq!(
            bss_total(&h),
            0,
            "{} left a purchase behind",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 3,
        "expected the kms_instance, kms_instances and kms_zones examples under {}",
        dir.display()
    );
}

#[test]
fn provider_example_is_valid() {
    let h = Harness::start();
    let text =
        std::fs::read_to_string(Harness::examples_dir().join("provider/provider.tf")).unwrap();
    h.config_raw(&text);
    let r = h.tf(&["validate", "-no-color"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("The configuration is valid"),
        "{}",
        r.stdout
    );
}

#[test]
fn hardware_example_applies_with_generated_certificates() {
    use base64::Engine;
    let h = Harness::start();
    let certs = h.admin_post("hsm-clusters/hsm-hangzhou-manual/certificates");
    let dir = h.dir().join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    let p12 = base64::engine::general_purpose::STANDARD
        .decode(certs["client_p12_base64"].as_str().unwrap())
        .unwrap();
    std::fs::write(dir.join("client.p12"), p12).unwrap();
    std::fs::write(
        dir.join("rootca.pem"),
        certs["security_domain_ca_pem"].as_str().unwrap(),
    )
    .unwrap();
    let body = std::fs::read_to_string(Harness::examples_dir().join("hardware/main.tf")).unwrap();
    h.config(&body);
    let out = h.apply();
    assert!(
        out.stdout.contains("protection_level = \"HSM\""),
        "{}",
        out.stdout
    );
    h.assert_plan_empty();
    h.destroy();
    assert_eq!(bss_total(&h), 0);
}
