//! `kms_instance` access management (S06: bound VPCs and shared accounts) and deletion protection.

use acceptance_tests::Harness;
use serde_json::json;

const ADDR: &str = "kms_instance.test";

fn config(extra: &str) -> String {
    format!(
        r#"
resource "kms_instance" "test" {{
  management_type     = "software"
  compute_performance = 1000
  vpc_id              = "vpc-china-cn-hangzhou"
  zones = [
    {{ zone_id = "cn-hangzhou-k", vswitch_id = "vsw-china-cn-hangzhou-k" }},
  ]
{extra}
}}
"#
    )
}

const BIND: &str = r#"  bound_vpcs = [{ vpc_id = "vpc-china-cn-hangzhou-b", vswitch_id = "vsw-china-cn-hangzhou-b-k" }]
  shared_account_ids = ["6543210987654321"]"#;

#[test]
fn bound_vpcs_and_shared_accounts_over_the_access_quota_are_refused_at_plan() {
    let h = Harness::start();
    h.config(&config(&format!("{BIND}\n  access_management_quota = 2")));
    let plan = h.plan();
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains("access_management_quota") && plan.stderr.contains("S06"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("of 3"),
        "says how much is needed: {}",
        plan.stderr
    );
}

#[test]
fn bound_vpcs_and_shared_accounts_apply_in_place_and_drift_shows() {
    let h = Harness::start();
    h.config(&config("  access_management_quota = 3"));
    h.apply();
    let id = h.attrs(ADDR)["id"].as_str().unwrap().to_string();

    h.config(&config(&format!("{BIND}\n  access_management_quota = 3")));
    let plan = h.plan();
    assert!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    h.apply();
    assert_eq!(h.attrs(ADDR)["id"], id.as_str());
    let got = h.kms("GetKmsInstance", &[("KmsInstanceId", &id)]).body;
    assert_eq!(
        got["KmsInstance"]["BindVpcs"]["BindVpc"][0]["VpcId"], "vpc-china-cn-hangzhou-b",
        "{got}"
    );
    assert_eq!(
        got["KmsInstance"]["ShareAccounts"]["ShareAccount"],
        json!(["6543210987654321"]),
        "{got}"
    );
    h.assert_plan_empty();

    // Unbound outside Terraform: the plan puts it back.
    let r = h.kms(
        "UpdateKmsInstanceBindVpc",
        &[("KmsInstanceId", &id), ("BindVpcs", "[]")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let plan = h.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("bound_vpcs"), "{}", plan.stdout);
}

#[test]
fn the_mock_refuses_sharing_beyond_the_quota_with_the_real_code() {
    let h = Harness::start();
    h.config(&config(""));
    h.apply();
    let id = h.attrs(ADDR)["id"].as_str().unwrap().to_string();
    let r = h.kms(
        "UpdateKmsInstanceShareAccounts",
        &[
            ("KmsInstanceId", &id),
            ("ShareAccounts", "[\"6543210987654321\"]"),
        ],
    );
    assert_eq!(
        (r.status, r.code()),
        (409, "Rejected.ShareQuotaExceedLimit"),
        "{}",
        r.body
    );
}

#[test]
fn destroy_of_a_protected_instance_fails_naming_the_attribute_until_it_is_turned_off() {
    let h = Harness::start();
    h.config(&config("  deletion_protection = true"));
    h.apply();
    let id = h.attrs(ADDR)["id"].as_str().unwrap().to_string();
    let got = h.kms("GetKmsInstance", &[("KmsInstanceId", &id)]).body;
    assert_eq!(got["KmsInstance"]["DeletionProtection"], true);

    let out = h.tf(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("deletion_protection"), "{}", out.all());
    assert_eq!(
        h.kms("GetKmsInstance", &[("KmsInstanceId", &id)]).status,
        200,
        "still there"
    );

    // Refunding it behind Terraform's back is refused by the cloud too.
    let r = h.bss(
        "RefundInstance",
        &[
            ("ProductCode", "kms"),
            ("InstanceId", &id),
            ("ImmediatelyRelease", "1"),
        ],
    );
    assert_eq!(r.code(), "Forbidden.DeletionProtection", "{}", r.body);

    h.config(&config("  deletion_protection = false"));
    h.apply();
    h.destroy();
    assert_eq!(h.kms("ListKmsInstances", &[]).body["TotalCount"], 0);
}
