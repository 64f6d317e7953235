//! `kms_instance`: basic, import, disappears, update in place, bad input, failure after purchase.

use acceptance_tests::Harness;
use serde_json::Value;

const SOFTWARE: &str = r#"
resource "kms_instance" "test" {
  management_type     = "software"
  compute_performance = 1000
  name                = "acc-test"
  vpc_id              = "vpc-china-cn-hangzhou"
  zones = [
    { zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" },
  ]
}
"#;

const ADDR: &str = "kms_instance.test";

fn id_of(h: &Harness) -> String {
    h.attrs(ADDR)["id"]
        .as_str()
        .expect("id in state")
        .to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn basic_apply_creates_connected_instance_plan_is_empty_and_destroy_empties_the_list() {
    let h = Harness::start();
    h.config(SOFTWARE);
    let out = h.apply();
    assert!(
        !out.all().contains(&h.access_key_secret),
        "the secret key must not appear in terraform output"
    );

    let a = h.attrs(ADDR);
    let id = a["id"].as_str().unwrap();
    assert!(id.starts_with("kst-hzz"), "{id}");
    assert_eq!(a["status"], "Connected");
    assert_eq!(a["region"], "cn-hangzhou");
    assert_eq!(a["deployment_mode"], "dual_zone");
    assert_eq!(a["key_quota"], 1000);
    assert_eq!(a["secret_quota"], 0);
    assert_eq!(a["access_management_quota"], 1);
    assert_eq!(a["name"], "acc-test");
    let zones = strings(&a["zone_ids"]);
    assert_eq!(
        zones.len(),
        2,
        "a dual-zone instance gets a second zone assigned: {zones:?}"
    );
    assert_eq!(zones[0], "cn-hangzhou-k");
    assert_eq!(strings(&a["other_zone_ids"]), zones[1..].to_vec());
    assert_eq!(strings(&a["vswitch_ids"]), ["vsw-china-cn-hangzhou-k"]);
    assert!(a["ca_certificate_pem"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));

    // The API agrees with the state.
    let got = h.kms("GetKmsInstance", &[("KmsInstanceId", id)]);
    assert_eq!(got.body["KmsInstance"]["Status"], "Connected");
    assert_eq!(got.body["KmsInstance"]["InstanceName"], "acc-test");

    h.assert_plan_empty();

    h.destroy();
    let list = h.kms("ListKmsInstances", &[]);
    assert_eq!(list.body["TotalCount"], 0, "{}", list.body);
    let bss = h.bss("QueryAvailableInstances", &[("ProductCode", "kms")]);
    assert_eq!(bss.body["Data"]["TotalCount"], 0, "{}", bss.body);
}

#[test]
fn import_into_empty_state_then_plan_reports_no_changes() {
    let h = Harness::start();
    h.config(SOFTWARE);
    h.apply();
    let before = h.attrs(ADDR);
    let id = before["id"].as_str().unwrap().to_string();

    let rm = h.tf(&["state", "rm", ADDR]);
    assert_eq!(rm.code, 0, "{}", rm.all());
    let imp = h.tf(&["import", "-input=false", "-no-color", ADDR, &id]);
    assert_eq!(imp.code, 0, "import failed:\n{}", imp.all());

    let after = h.attrs(ADDR);
    for attr in [
        "id",
        "status",
        "management_type",
        "region",
        "deployment_mode",
        "zone_ids",
        "vswitch_ids",
        "zones",
        "other_zone_ids",
        "key_quota",
        "name",
        "subscription_months",
        "auto_renew",
    ] {
        assert_eq!(after[attr], before[attr], "{attr} differs after import");
    }
    h.assert_plan_empty();
}

#[test]
fn import_with_a_malformed_id_names_the_expected_form() {
    let h = Harness::start();
    h.config(SOFTWARE);
    let imp = h.tf(&["import", "-input=false", "-no-color", ADDR, "not-an-id"]);
    assert_ne!(imp.code, 0);
    assert!(
        imp.all().contains("is not a KMS instance id"),
        "{}",
        imp.all()
    );
}

#[test]
fn instance_refunded_outside_terraform_is_recreated_by_next_apply() {
    let h = Harness::start();
    h.config(SOFTWARE);
    h.apply();
    let first = id_of(&h);
    let refund = h.bss(
        "RefundInstance",
        &[
            ("ProductCode", "kms"),
            ("InstanceId", &first),
            ("ImmediatelyRelease", "1"),
        ],
    );
    assert_eq!(refund.status, 200, "{}", refund.body);

    let plan = h.plan();
    assert_eq!(plan.code, 2, "expected a plan to recreate:\n{}", plan.all());
    assert!(plan.stdout.contains("will be created"), "{}", plan.stdout);
    h.apply();
    let second = id_of(&h);
    assert_ne!(first, second);
    assert_eq!(h.attrs(ADDR)["status"], "Connected");
}

#[test]
fn wrong_secret_key_fails_with_the_api_signature_error() {
    let h = Harness::start();
    let text = format!("{}\n{SOFTWARE}", h.provider_block("not-the-secret"));
    h.config_raw(&text);
    let out = h.apply_fails();
    let all = out.all();
    assert!(all.contains("SignatureDoesNotMatch"), "{all}");
    assert!(all.contains("Create KMS instance failed"), "{all}");
    assert!(
        all.contains("secret_key"),
        "the diagnostic says what to check: {all}"
    );
    assert!(
        !all.contains("not-the-secret"),
        "the secret must not be echoed: {all}"
    );
    let bss = h.bss("QueryAvailableInstances", &[("ProductCode", "kms")]);
    assert_eq!(bss.body["Data"]["TotalCount"], 0, "nothing was bought");
}

#[test]
fn update_in_place_keeps_identity_for_name_quota_and_renewal() {
    let h = Harness::start();
    h.config(SOFTWARE);
    h.apply();
    let id = id_of(&h);

    h.config(&SOFTWARE.replace(
        "name                = \"acc-test\"",
        "name = \"acc-renamed\"\n  key_quota = 2000\n  auto_renew = true\n  auto_renew_months = 6",
    ));
    let plan = h.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    h.apply();

    assert_eq!(id_of(&h), id, "identity kept");
    let got = h.kms("GetKmsInstance", &[("KmsInstanceId", &id)]);
    assert_eq!(got.body["KmsInstance"]["InstanceName"], "acc-renamed");
    assert_eq!(got.body["KmsInstance"]["KeyNum"], 2000);
    let bss = h.bss(
        "QueryAvailableInstances",
        &[("ProductCode", "kms"), ("InstanceIDs", &id)],
    );
    assert_eq!(
        bss.body["Data"]["InstanceList"][0]["RenewStatus"],
        "AutoRenewal"
    );
    assert_eq!(bss.body["Data"]["InstanceList"][0]["RenewalDuration"], 6);
    h.assert_plan_empty();
}

#[test]
fn lowering_key_quota_is_refused_at_plan_and_changing_the_vpc_replaces() {
    let h = Harness::start();
    h.config(&SOFTWARE.replace(
        "compute_performance = 1000",
        "compute_performance = 1000\n  key_quota = 2000",
    ));
    h.apply();

    h.config(&SOFTWARE.replace(
        "compute_performance = 1000",
        "compute_performance = 1000\n  key_quota = 1000",
    ));
    let plan = h.plan();
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains("key_quota cannot go down"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("S12"), "{}", plan.stderr);

    h.config(
        &SOFTWARE
            .replace(
                "compute_performance = 1000",
                "compute_performance = 1000\n  key_quota = 2000",
            )
            .replace("cn-hangzhou-k", "cn-hangzhou-j"),
    );
    let plan = h.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
}

#[test]
fn drift_in_renewal_made_outside_terraform_shows_in_the_plan() {
    let h = Harness::start();
    h.config(SOFTWARE);
    h.apply();
    let id = id_of(&h);
    let r = h.bss(
        "SetRenewal",
        &[
            ("ProductCode", "kms"),
            ("InstanceIDs", &id),
            ("RenewalStatus", "AutoRenewal"),
            ("RenewalPeriod", "12"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let plan = h.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("auto_renew"), "{}", plan.stdout);
}

#[test]
fn bad_input_is_refused_at_plan_naming_the_attribute_and_rule() {
    let h = Harness::start();
    let cases = [
        (
            "compute_performance = 1000",
            "compute_performance = 300",
            "compute_performance",
            "S03",
        ),
        (
            "name                = \"acc-test\"",
            "name = \"has spaces\"",
            "name",
            "S21",
        ),
        (
            "compute_performance = 1000",
            "compute_performance = 1000\n  log_analysis = true\n  log_storage_gb = 1500",
            "log_storage_gb",
            "S07",
        ),
        (
            "compute_performance = 1000",
            "compute_performance = 1000\n  subscription_months = 5",
            "subscription_months",
            "S09",
        ),
    ];
    for (from, to, attr, rule) in cases {
        h.config(&SOFTWARE.replace(from, to));
        let plan = h.plan();
        assert_eq!(plan.code, 1, "{attr}: {}", plan.all());
        assert!(
            plan.stderr.contains(attr) && plan.stderr.contains(rule),
            "{attr}/{rule} not named:\n{}",
            plan.stderr
        );
    }
    let bss = h.bss("QueryAvailableInstances", &[("ProductCode", "kms")]);
    assert_eq!(bss.body["Data"]["TotalCount"], 0, "nothing was bought");
}

#[test]
fn connect_failure_after_purchase_keeps_the_instance_tainted_with_resume_advice() {
    let h = Harness::start();
    // The vSwitch is in zone j, not k: the purchase succeeds, enablement is refused.
    h.config(&SOFTWARE.replace(
        "vswitch_id = \"vsw-china-cn-hangzhou-k\"",
        "vswitch_id = \"vsw-china-cn-hangzhou-j\"",
    ));
    let out = h.apply_fails();
    let all = out.all();
    assert!(
        all.contains("InvalidParameter.VSwitchZoneMismatch"),
        "{all}"
    );
    assert!(all.contains("terraform untaint"), "{all}");
    let a = h.attrs(ADDR);
    let id = a["id"].as_str().expect("the bought instance is in state");
    assert_eq!(a["status"], "Uninitialized");
    let show = h.tf(&["state", "show", "-no-color", ADDR]);
    assert!(show.stdout.contains("tainted"), "{}", show.stdout);

    assert!(id.starts_with("kst-"));

    // Destroy refunds the half-created instance.
    h.destroy();
    let bss = h.bss("QueryAvailableInstances", &[("ProductCode", "kms")]);
    assert_eq!(bss.body["Data"]["TotalCount"], 0, "{}", bss.body);
}

#[test]
fn create_timeout_while_connecting_then_untaint_and_apply_resumes_the_same_instance() {
    // At 300x, enablement takes 6 s: a 1 s create timeout expires while Connecting.
    let h = Harness::start_with(|c| c.time_scale = 300.0);
    let with_timeout = SOFTWARE.replace(
        "compute_performance = 1000",
        "compute_performance = 1000\n  timeouts {\n    create = \"1s\"\n  }",
    );
    h.config(&with_timeout);
    let out = h.apply_fails();
    assert!(out.all().contains("still Connecting"), "{}", out.all());
    assert!(
        out.all().contains("PrivateZone"),
        "the timeout names the likely cause: {}",
        out.all()
    );
    let id = id_of(&h);

    let untaint = h.tf(&["untaint", ADDR]);
    assert_eq!(untaint.code, 0, "{}", untaint.all());
    h.config(SOFTWARE);
    h.apply();
    assert_eq!(id_of(&h), id, "the same instance, not a second purchase");
    assert_eq!(h.attrs(ADDR)["status"], "Connected");
    let bss = h.bss("QueryAvailableInstances", &[("ProductCode", "kms")]);
    assert_eq!(bss.body["Data"]["TotalCount"], 1, "{}", bss.body);
    h.assert_plan_empty();
}
