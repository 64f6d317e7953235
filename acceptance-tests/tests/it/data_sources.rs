//! Data sources: `kms_instance` agrees with the resource it reads, `kms_instances` filters and
//! returns details, `kms_zones` shows zones with vSwitches, and failures name the API code.

use acceptance_tests::Harness;
use serde_json::Value;

fn instance(label: &str, name: &str, zone: &str) -> String {
    format!(
        r#"
resource "kms_instance" "{label}" {{
  management_type     = "software"
  compute_performance = 1000
  name                = "{name}"
  vpc_id              = "vpc-china-cn-hangzhou"
  zones = [
    {{ zone_id = "cn-hangzhou-{zone}", vswitch_id = "vsw-china-cn-hangzhou-{zone}" }},
  ]
}}
"#
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn instance_data_source_reads_what_the_resource_created() {
    let h = Harness::start();
    h.config(&format!(
        "{}\ndata \"kms_instance\" \"read\" {{\n  id = kms_instance.app.id\n}}\n",
        instance("app", "acc-data", "h")
    ));
    h.apply();
    let res = h.attrs("kms_instance.app");
    let data = h.attrs("data.kms_instance.read");
    assert_eq!(data["status"], "Connected", "{data}");
    for attr in [
        "id",
        "name",
        "status",
        "management_type",
        "region",
        "deployment_mode",
        "compute_performance",
        "key_quota",
        "secret_quota",
        "access_management_quota",
        "log_analysis",
        "log_storage_gb",
        "vpc_id",
        "zone_ids",
        "vswitch_ids",
        "endpoint",
        "ca_certificate_pem",
        "start_time",
        "end_time",
        "auto_renew",
        "auto_renew_months",
    ] {
        assert_eq!(data[attr], res[attr], "{attr} differs from the resource's");
    }
    assert_eq!(data["deletion_protection"], false);
    assert_eq!(
        data["endpoint"],
        format!(
            "{}.cryptoservice.kms.aliyuncs.com",
            res["id"].as_str().unwrap()
        )
    );
    h.assert_plan_empty();
    h.destroy();
}

#[test]
fn instances_data_source_filters_by_name_and_returns_details() {
    let h = Harness::start();
    let resources = format!(
        "{}{}",
        instance("alpha", "alpha-one", "h"),
        instance("beta", "beta-two", "j")
    );
    let lists = r#"
data "kms_instances" "alpha" {
  name_regex = "^alpha-"
  depends_on = [kms_instance.alpha, kms_instance.beta]
}

data "kms_instances" "all" {
  depends_on = [kms_instance.alpha, kms_instance.beta]
}

data "kms_instances" "uninitialized" {
  status     = "Uninitialized"
  depends_on = [kms_instance.alpha, kms_instance.beta]
}

data "kms_instances" "shanghai" {
  region     = "cn-shanghai"
  depends_on = [kms_instance.alpha, kms_instance.beta]
}
"#;
    h.config(&format!("{resources}{lists}"));
    h.apply();
    let alpha = h.attrs("kms_instance.alpha");
    let beta = h.attrs("kms_instance.beta");

    let found = h.attrs("data.kms_instances.alpha");
    assert_eq!(strings(&found["ids"]), [alpha["id"].as_str().unwrap()]);
    assert_eq!(found["region"], "cn-hangzhou");
    let list = found["instances"].as_array().expect("instances list");
    assert_eq!(list.len(), 1, "{found}");
    let got = &list[0];
    for attr in [
        "id",
        "name",
        "status",
        "region",
        "compute_performance",
        "key_quota",
        "zone_ids",
        "vswitch_ids",
        "endpoint",
        "end_time",
        "auto_renew",
    ] {
        assert_eq!(got[attr], alpha[attr], "{attr} differs from the resource's");
    }
    assert_eq!(got["name"], "alpha-one");
    assert_eq!(got["status"], "Connected");
    assert_eq!(got["management_type"], "software");

    let mut both = vec![
        alpha["id"].as_str().unwrap().to_string(),
        beta["id"].as_str().unwrap().to_string(),
    ];
    both.sort();
    assert_eq!(strings(&h.attrs("data.kms_instances.all")["ids"]), both);
    assert!(strings(&h.attrs("data.kms_instances.uninitialized")["ids"]).is_empty());
    let shanghai = h.attrs("data.kms_instances.shanghai");
    assert!(strings(&shanghai["ids"]).is_empty(), "{shanghai}");
    assert_eq!(shanghai["instances"], serde_json::json!([]));
    h.assert_plan_empty();
    h.destroy();
}

#[test]
fn zones_data_source_lists_zones_with_vswitches_and_free_ips() {
    let h = Harness::start();
    h.config(
        r#"
data "kms_zones" "all" {}

data "kms_zones" "vpc" {
  vpc_id = "vpc-china-cn-hangzhou"
}

data "kms_zones" "manila" {
  region = "ap-southeast-6"
}
"#,
    );
    h.apply();
    let all = h.attrs("data.kms_zones.all");
    let zones = ["cn-hangzhou-h", "cn-hangzhou-j", "cn-hangzhou-k"];
    assert_eq!(strings(&all["zone_ids"]), zones);
    assert_eq!(all["region"], "cn-hangzhou");
    let listed = all["zones"].as_array().expect("zones");
    assert_eq!(listed.len(), 3);
    for (z, want) in listed.iter().zip(zones) {
        assert_eq!(z["zone_id"], want);
        assert!(!z["local_name"].as_str().unwrap().is_empty(), "{z}");
        let vsws = z["vswitches"].as_array().expect("vswitches");
        assert!(
            vsws.iter()
                .any(|v| v["vswitch_id"] == format!("vsw-china-{want}")),
            "{z}"
        );
        for v in vsws {
            assert_eq!(v["zone_id"], want, "{v}");
            assert!(v["free_ips"].as_i64().unwrap() > 0, "{v}");
        }
    }

    let vpc = h.attrs("data.kms_zones.vpc");
    let vsws = vpc["vswitches"].as_array().expect("vswitches");
    let ids: Vec<&str> = vsws
        .iter()
        .map(|v| v["vswitch_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "vsw-china-cn-hangzhou-h",
            "vsw-china-cn-hangzhou-j",
            "vsw-china-cn-hangzhou-k"
        ]
    );
    for v in vsws {
        assert_eq!(v["vpc_id"], "vpc-china-cn-hangzhou");
        assert_eq!(v["free_ips"], 252, "{v}");
    }

    let manila = h.attrs("data.kms_zones.manila");
    assert_eq!(strings(&manila["zone_ids"]), ["ap-southeast-6a"]);
    h.assert_plan_empty();
}

#[test]
fn missing_instance_fails_with_the_api_code_naming_id() {
    let h = Harness::start();
    h.config("data \"kms_instance\" \"gone\" {\n  id = \"kst-hzz000000000000missing\"\n}\n");
    let out = h.apply_fails();
    let all = out.all();
    assert!(all.contains("Forbidden.DKMSInstanceNotFound"), "{all}");
    assert!(all.contains("kst-hzz000000000000missing"), "{all}");
    assert!(all.contains("Check `id`"), "{all}");
}

#[test]
fn bad_arguments_fail_at_plan_naming_the_attribute() {
    let h = Harness::start();
    h.config(
        r#"
data "kms_instances" "bad" {
  name_regex = "(unclosed"
  status     = "Running"
}

data "kms_instance" "bad" {
  id = "i-not-kms"
}
"#,
    );
    let out = h.plan();
    assert_eq!(out.code, 1, "{}", out.all());
    let all = out.all();
    for want in ["Invalid name_regex", "Invalid status", "Invalid id"] {
        assert!(all.contains(want), "{want} missing from:\n{all}");
    }

    h.config("data \"kms_zones\" \"bad\" {\n  region = \"mars-north-1\"\n}\n");
    let out = h.plan();
    assert_eq!(out.code, 1, "{}", out.all());
    let all = out.all();
    assert!(all.contains("InvalidRegionId.NotFound"), "{all}");
    assert!(all.contains("Check `region`"), "{all}");
}
