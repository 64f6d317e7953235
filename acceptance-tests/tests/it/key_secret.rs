//! `kms_key` and `kms_secret` on a Connected software instance.

use acceptance_tests::Harness;

const INSTANCE: &str = r#"
resource "kms_instance" "test" {
  management_type     = "software"
  compute_performance = 1000
  secret_quota        = 5
  vpc_id              = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" },
  ]
}
"#;

fn with(resources: &str) -> String {
    format!("{INSTANCE}\n{resources}")
}

const KEY: &str = r#"
resource "kms_key" "test" {
  instance_id = kms_instance.test.id
  description = "acceptance"
}
"#;

#[test]
fn key_basic_create_import_update_in_place_and_destroy() {
    let h = Harness::start();
    h.config(&with(KEY));
    h.apply();
    let a = h.attrs("kms_key.test");
    let id = a["id"].as_str().expect("key id").to_string();
    assert!(id.starts_with("key-"), "{id}");
    assert_eq!(a["key_spec"], "Aliyun_AES_256");
    assert_eq!(a["key_usage"], "ENCRYPT/DECRYPT");
    assert_eq!(a["protection_level"], "SOFTWARE");
    assert_eq!(a["key_state"], "Enabled");
    assert_eq!(a["instance_id"], h.attrs("kms_instance.test")["id"]);
    h.assert_plan_empty();

    // The key encrypts through the API.
    let enc = h.kms("Encrypt", &[("KeyId", &id), ("Plaintext", "hello")]);
    assert_eq!(enc.status, 200, "{}", enc.body);

    // Import gives the same state and an empty plan.
    assert_eq!(h.tf(&["state", "rm", "kms_key.test"]).code, 0);
    let imp = h.tf(&["import", "-input=false", "-no-color", "kms_key.test", &id]);
    assert_eq!(imp.code, 0, "{}", imp.all());
    h.assert_plan_empty();

    // Description and enabled change in place; the key keeps its id.
    h.config(&with(
        &KEY.replace("\"acceptance\"", "\"renamed\"\n  enabled = false"),
    ));
    h.apply();
    let a = h.attrs("kms_key.test");
    assert_eq!(a["id"], id.as_str());
    assert_eq!(a["key_state"], "Disabled");
    let d = h.kms("DescribeKey", &[("KeyId", &id)]).body;
    assert_eq!(d["KeyMetadata"]["Description"], "renamed", "{d}");
    let enc = h.kms("Encrypt", &[("KeyId", &id), ("Plaintext", "hello")]);
    assert_eq!(enc.code(), "Rejected.Disabled", "{}", enc.body);

    // Destroy schedules the deletion.
    h.config(INSTANCE);
    h.apply();
    let d = h.kms("DescribeKey", &[("KeyId", &id)]).body;
    assert_eq!(d["KeyMetadata"]["KeyState"], "PendingDeletion", "{d}");
}

#[test]
fn key_rotation_and_bad_input() {
    let h = Harness::start();
    h.config(&with(&KEY.replace(
        "description = \"acceptance\"",
        "automatic_rotation = true\n  rotation_interval = \"30d\"",
    )));
    h.apply();
    let id = h.attrs("kms_key.test")["id"].as_str().unwrap().to_string();
    let d = h.kms("DescribeKey", &[("KeyId", &id)]).body;
    assert_eq!(d["KeyMetadata"]["AutomaticRotation"], "Enabled", "{d}");
    assert_eq!(d["KeyMetadata"]["RotationInterval"], "2592000s", "{d}");
    h.assert_plan_empty();

    for (from, to, attr) in [
        (
            "description = \"acceptance\"",
            "key_spec = \"AES_999\"",
            "key_spec",
        ),
        (
            "description = \"acceptance\"",
            "pending_window_in_days = 3",
            "pending_window_in_days",
        ),
    ] {
        h.config(&with(&KEY.replace(from, to)));
        let plan = h.plan();
        assert_eq!(plan.code, 1, "{}", plan.all());
        assert!(
            plan.stderr.contains(attr),
            "{attr} not named: {}",
            plan.stderr
        );
    }
}

#[test]
fn ec_key_signs_and_its_public_key_is_pem() {
    let h = Harness::start();
    h.config(&with(
        r#"
resource "kms_key" "sign" {
  instance_id = kms_instance.test.id
  key_spec    = "EC_P256"
}
"#,
    ));
    h.apply();
    let a = h.attrs("kms_key.sign");
    assert_eq!(a["key_usage"], "SIGN/VERIFY");
    let id = a["id"].as_str().unwrap().to_string();
    let version = a["primary_key_version"].as_str().unwrap().to_string();
    let pk = h.kms(
        "GetPublicKey",
        &[("KeyId", &id), ("KeyVersionId", &version)],
    );
    assert!(
        pk.body["PublicKey"]
            .as_str()
            .unwrap_or("")
            .starts_with("-----BEGIN PUBLIC KEY-----"),
        "{}",
        pk.body
    );
    h.assert_plan_empty();
}

const SECRET: &str = r#"
resource "kms_key" "test" {
  instance_id = kms_instance.test.id
}

resource "kms_secret" "test" {
  name              = "app/db-password"
  encryption_key_id = kms_key.test.id
  value             = "s3cr3t-value-one"
  force_delete      = true
}
"#;

fn secret_value(h: &Harness) -> String {
    let r = h.kms("GetSecretValue", &[("SecretName", "app/db-password")]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["SecretData"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn secret_value_is_written_never_shown_and_put_as_a_new_version_on_change() {
    let h = Harness::start();
    h.config(&with(SECRET));
    let out = h.apply();
    assert!(
        !out.all().contains("s3cr3t-value-one"),
        "the value must not appear in output"
    );
    assert_eq!(secret_value(&h), "s3cr3t-value-one");
    let a = h.attrs("kms_secret.test");
    assert_eq!(a["id"], "app/db-password");
    let v1 = a["version_id"].as_str().unwrap().to_string();
    assert_eq!(a["instance_id"], h.attrs("kms_instance.test")["id"]);
    let plan = h.plan();
    assert_eq!(plan.code, 0, "{}", plan.all());

    h.config(&with(
        &SECRET.replace("s3cr3t-value-one", "s3cr3t-value-two"),
    ));
    let plan = h.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(!plan.all().contains("s3cr3t-value-two"), "{}", plan.all());
    assert!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    h.apply();
    assert_eq!(secret_value(&h), "s3cr3t-value-two");
    assert_ne!(h.attrs("kms_secret.test")["version_id"], v1.as_str());

    // A value put outside Terraform makes the next plan put the configured one back.
    let r = h.kms(
        "PutSecretValue",
        &[
            ("SecretName", "app/db-password"),
            ("VersionId", "manual"),
            ("SecretData", "changed-by-hand"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let plan = h.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    h.apply();
    assert_eq!(secret_value(&h), "s3cr3t-value-two");
    h.assert_plan_empty();

    // Destroy with force_delete removes it at once.
    h.config(INSTANCE);
    h.apply();
    let r = h.kms("DescribeSecret", &[("SecretName", "app/db-password")]);
    assert_eq!(r.code(), "Forbidden.ResourceNotFound", "{}", r.body);
}

#[test]
fn secret_beyond_the_quota_fails_with_the_api_code_and_import_works() {
    let h = Harness::start();
    let quota_one = INSTANCE.replace("secret_quota        = 5", "secret_quota        = 1");
    let two = format!(
        "{quota_one}\n{SECRET}\nresource \"kms_secret\" \"second\" {{\n  name = \"app/other\"\n  encryption_key_id = kms_key.test.id\n  value = \"x\"\n  depends_on = [kms_secret.test]\n}}\n"
    );
    h.config(&two);
    let out = h.apply_fails();
    assert!(
        out.all().contains("Rejected.LimitExceeded") && out.all().contains("secret_quota"),
        "{}",
        out.all()
    );

    h.config(&format!("{quota_one}\n{SECRET}"));
    h.apply();
    assert_eq!(h.tf(&["state", "rm", "kms_secret.test"]).code, 0);
    let imp = h.tf(&[
        "import",
        "-input=false",
        "-no-color",
        "kms_secret.test",
        "app/db-password",
    ]);
    assert_eq!(imp.code, 0, "{}", imp.all());
    let a = h.attrs("kms_secret.test");
    assert_eq!(a["encryption_key_id"], h.attrs("kms_key.test")["id"]);
}
