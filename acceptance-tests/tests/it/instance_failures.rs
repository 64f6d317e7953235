//! `kms_instance` under injected faults and the PrivateZone rule (S23): retries never buy twice,
//! a failed create resumes on the same instance.

use acceptance_tests::Harness;

const ADDR: &str = "kms_instance.test";

fn config(region: &str, vpc: &str, zone: &str, vsw: &str, extra: &str) -> String {
    format!(
        r#"
resource "kms_instance" "test" {{
  management_type     = "software"
  region              = "{region}"
  compute_performance = 1000
  vpc_id              = "{vpc}"
  zones = [
    {{ zone_id = "{zone}", vswitch_id = "{vsw}" }},
  ]
{extra}
}}
"#
    )
}

fn hangzhou(extra: &str) -> String {
    config(
        "cn-hangzhou",
        "vpc-china-cn-hangzhou",
        "cn-hangzhou-k",
        "vsw-china-cn-hangzhou-k",
        extra,
    )
}

fn purchases(h: &Harness) -> serde_json::Value {
    h.bss("QueryAvailableInstances", &[("ProductCode", "kms")])
        .body["Data"]["TotalCount"]
        .clone()
}

#[test]
fn lost_responses_throttling_and_server_errors_are_retried_without_buying_twice() {
    let h = Harness::start();
    h.config(&hangzhou(""));
    // The purchase is carried out but its answer is lost; then two throttles and a 503.
    h.faults(r#"{"lose_response": 1}"#);
    let out = h.apply();
    assert_eq!(
        purchases(&h),
        1,
        "one purchase despite the retry: {}",
        out.all()
    );
    assert_eq!(h.attrs(ADDR)["status"], "Connected");

    h.faults(r#"{"throttle": 2, "server_error": 1}"#);
    h.assert_plan_empty();
    h.faults("{}");
}

#[test]
fn enablement_error_leaves_a_tainted_instance_that_untaint_and_apply_enable_again() {
    let h = Harness::start();
    h.config(&hangzhou(""));
    h.faults(r#"{"connect_error": "the zone ran out of capacity"}"#);
    let out = h.apply_fails();
    assert!(out.all().contains("ended in status Error"), "{}", out.all());
    assert!(out.all().contains("terraform untaint"), "{}", out.all());
    let id = h.attrs(ADDR)["id"].as_str().unwrap().to_string();
    assert_eq!(h.attrs(ADDR)["status"], "Error");

    let untaint = h.tf(&["untaint", ADDR]);
    assert_eq!(untaint.code, 0, "{}", untaint.all());
    let plan = h.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    h.apply();
    assert_eq!(h.attrs(ADDR)["id"], id.as_str(), "the same instance");
    assert_eq!(h.attrs(ADDR)["status"], "Connected");
    assert_eq!(purchases(&h), 1);
    h.assert_plan_empty();
}

#[test]
fn cross_site_purchase_stays_connecting_until_private_zone_is_activated() {
    let h = Harness::start();
    // A China-site account buying in Singapore must activate PrivateZone first (S23).
    h.config(&config(
        "ap-southeast-1",
        "vpc-china-ap-southeast-1",
        "ap-southeast-1a",
        "vsw-china-ap-southeast-1a",
        "  timeouts {\n    create = \"3s\"\n  }",
    ));
    let out = h.apply_fails();
    let all = out.all();
    assert!(all.contains("still Connecting"), "{all}");
    assert!(
        all.contains("PrivateZone") && all.contains("S23"),
        "the timeout names the likely cause: {all}"
    );
    let id = h.attrs(ADDR)["id"].as_str().unwrap().to_string();

    let r = h.admin_post("accounts/1234567890123456/private-zone");
    assert_eq!(r["private_zone_activated"], true, "{r}");
    let untaint = h.tf(&["untaint", ADDR]);
    assert_eq!(untaint.code, 0, "{}", untaint.all());
    h.apply();
    assert_eq!(h.attrs(ADDR)["id"], id.as_str());
    assert_eq!(h.attrs(ADDR)["status"], "Connected");
}

#[test]
fn single_zone_region_gets_one_zone_and_refuses_a_dual_zone_purchase_with_the_api_code() {
    // Manila is outside the mainland: the China-site account has PrivateZone activated here.
    let h = Harness::start_with(|c| {
        let mut world = mockcloud::world::World::default_world();
        world.accounts[0].private_zone_activated = true;
        c.world = Some(world);
    });
    h.config(&config(
        "ap-southeast-6",
        "vpc-china-ap-southeast-6",
        "ap-southeast-6a",
        "vsw-china-ap-southeast-6a",
        "",
    ));
    h.apply();
    let a = h.attrs(ADDR);
    assert_eq!(a["deployment_mode"], "single_zone");
    assert_eq!(a["zone_ids"], serde_json::json!(["ap-southeast-6a"]));
    h.destroy();

    h.config(&config(
        "ap-southeast-6",
        "vpc-china-ap-southeast-6",
        "ap-southeast-6a",
        "vsw-china-ap-southeast-6a",
        "  deployment_mode = \"dual_zone\"",
    ));
    let out = h.apply_fails();
    assert!(
        out.all().contains("InvalidParameter") && out.all().contains("DeploymentMode"),
        "{}",
        out.all()
    );
    assert_eq!(purchases(&h), 0);
}

#[test]
fn expired_subscription_shows_a_warning_in_the_plan() {
    let h = Harness::start();
    h.config(&hangzhou(""));
    h.apply();
    h.advance_minutes(31 * 24 * 60);
    let plan = h.plan();
    assert_ne!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.all().contains("has expired") && plan.all().contains("auto_renew"),
        "{}",
        plan.all()
    );
}

#[test]
fn hardware_instance_is_bought_and_waits_uninitialized_for_its_hsm_binding() {
    let h = Harness::start();
    h.config(
        r#"
resource "kms_instance" "test" {
  management_type     = "hardware"
  compute_performance = 1000
}
"#,
    );
    h.apply();
    let a = h.attrs(ADDR);
    assert_eq!(a["status"], "Uninitialized");
    assert_eq!(a["management_type"], "hardware");
    assert!(a["vpc_id"].is_null(), "{a}");
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(
        h.kms("GetKmsInstance", &[("KmsInstanceId", &id)]).body["KmsInstance"]["ProductVersion"],
        "1"
    );
    h.assert_plan_empty();
    h.destroy();
    assert_eq!(purchases(&h), 0);
}
