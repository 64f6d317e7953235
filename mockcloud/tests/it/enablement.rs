//! Enablement of software instances through ConnectKmsInstance (S20–S24).

use mockcloud::world::World;
use serde_json::{json, Value};

use crate::harness::{
    assert_error, assert_ok, Mock, Order, REGION, VPC, VSW_H, VSW_J, ZONE_H, ZONE_J,
};

fn both_zones() -> String {
    format!("{ZONE_H},{ZONE_J}")
}

fn both_vswitches() -> String {
    format!("{VSW_H},{VSW_J}")
}

#[tokio::test]
async fn connect_goes_connecting_then_connected_after_thirty_minutes() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    assert_eq!(mock.status(&id).await, "Uninitialized");

    assert_ok(&mock.connect(&id, &both_zones(), &both_vswitches()).await);
    assert_eq!(mock.status(&id).await, "Connecting");
    mock.advance(29).await;
    assert_eq!(mock.status(&id).await, "Connecting");
    mock.advance(1).await;
    assert_eq!(mock.status(&id).await, "Connected");
}

#[tokio::test]
async fn get_kms_instance_reports_lists_strings_numbers_and_bools_as_the_sdk_types_them() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let before = mock.instance(&id).await;
    assert_eq!(before["ZoneIds"], json!([]), "{before}");
    assert_eq!(before["CaCertificateChainPem"], "", "{before}");

    assert_ok(&mock.connect(&id, &both_zones(), &both_vswitches()).await);
    mock.advance(30).await;
    let inst = mock.instance(&id).await;
    assert_eq!(inst["Status"], "Connected");
    assert_eq!(inst["ZoneIds"], json!([ZONE_H, ZONE_J]), "{inst}");
    assert_eq!(inst["VswitchIds"], json!([VSW_H, VSW_J]), "{inst}");
    assert_eq!(inst["VpcId"], VPC);
    assert_eq!(inst["SecretNum"], json!("0"), "SecretNum is a JSON string");
    assert_eq!(inst["Spec"], json!(1000));
    assert_eq!(inst["KeyNum"], json!(1000));
    assert_eq!(inst["VpcNum"], json!(1));
    assert_eq!(inst["Log"], json!(0));
    assert_eq!(inst["LogStorage"], json!(0));
    assert_eq!(inst["DeletionProtection"], json!(false));
    assert_eq!(inst["ProductVersion"], "3");
    assert_eq!(
        inst["CaCertificateChainPem"].as_str(),
        Some(mock.server.ca_pem.as_str())
    );
    // BindVpcs lists the further VPCs (UpdateKmsInstanceBindVpc); the own one is VpcId.
    assert_eq!(inst["BindVpcs"]["BindVpc"], json!([]), "{inst}");
    assert_eq!(inst["VpcId"], VPC, "{inst}");
}

#[tokio::test]
async fn dual_zone_instance_given_one_zone_gets_a_second_zone_assigned() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    assert_ok(&mock.connect(&id, ZONE_H, VSW_H).await);
    let inst = mock.instance(&id).await;
    let zones: Vec<&str> = inst["ZoneIds"]
        .as_array()
        .expect("ZoneIds is a list")
        .iter()
        .map(|z| z.as_str().unwrap())
        .collect();
    assert_eq!(zones.len(), 2, "{inst}");
    assert_eq!(zones[0], ZONE_H);
    assert_ne!(zones[1], ZONE_H);
    assert!(
        ["cn-hangzhou-j", "cn-hangzhou-k"].contains(&zones[1]),
        "assigned zone {} is not in {REGION}",
        zones[1]
    );
    assert_eq!(inst["VswitchIds"], json!([VSW_H]));
}

#[tokio::test]
async fn connect_fails_when_vswitch_is_in_another_zone() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock
        .connect(&id, &both_zones(), &format!("{VSW_J},{VSW_H}"))
        .await;
    assert_error(
        &r,
        400,
        "InvalidParameter.VSwitchZoneMismatch",
        &[VSW_J, ZONE_H],
    );
    assert_eq!(mock.status(&id).await, "Uninitialized", "nothing changed");
}

#[tokio::test]
async fn connect_fails_for_unknown_vpc() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock.connect_in(&id, "vpc-nowhere", ZONE_H, VSW_H).await;
    assert_error(&r, 404, "InvalidVpcId.NotFound", &["vpc-nowhere"]);
    // Another account's VPC, and this account's VPC in another region, are not found either.
    for vpc in ["vpc-intl-cn-hangzhou", "vpc-china-cn-shanghai"] {
        let r = mock.connect_in(&id, vpc, ZONE_H, VSW_H).await;
        assert_error(&r, 404, "InvalidVpcId.NotFound", &[vpc]);
    }
    assert_eq!(mock.status(&id).await, "Uninitialized");
}

#[tokio::test]
async fn connect_fails_for_zone_outside_the_region() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock
        .connect(&id, &format!("{ZONE_H},cn-shanghai-e"), VSW_H)
        .await;
    assert_error(&r, 404, "InvalidZoneId.NotFound", &["cn-shanghai-e"]);
}

#[tokio::test]
async fn connect_fails_before_the_instance_is_visible() {
    let mock = Mock::start().await;
    let id = mock.buy(&Order::software(REGION)).await;
    let r = mock.connect(&id, &both_zones(), &both_vswitches()).await;
    assert_error(&r, 403, "Forbidden.DKMSInstanceNotFound", &[&id]);
}

#[tokio::test]
async fn connecting_twice_is_refused_as_state_invalid() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    assert_ok(&mock.connect(&id, &both_zones(), &both_vswitches()).await);
    let r = mock.connect(&id, &both_zones(), &both_vswitches()).await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceStateInvalid",
        &[&id, "Connecting"],
    );
    mock.advance(30).await;
    let r = mock.connect(&id, &both_zones(), &both_vswitches()).await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceStateInvalid",
        &["Connected"],
    );
}

const TIGHT_WORLD: &str = r#"
[[regions]]
id = "cn-hangzhou"
code = "hzz"
mainland = true
zones = ["cn-hangzhou-h", "cn-hangzhou-j", "cn-hangzhou-k"]

[[accounts]]
id = "1234567890123456"
name = "china-default"
site = "china"
access_keys = [{ id = "mock-access-key-id", secret = "mock-access-key-secret" }]

[[vpcs]]
id = "vpc-tight"
account = "1234567890123456"
region = "cn-hangzhou"
cidr = "10.0.0.0/24"

[[vpcs.vswitches]]
id = "vsw-full"
zone = "cn-hangzhou-h"
free_ips = 0

[[vpcs.vswitches]]
id = "vsw-last-ip"
zone = "cn-hangzhou-j"
free_ips = 1
"#;

async fn free_ips(mock: &Mock) -> Value {
    let r = mock
        .client
        .call(
            mockcloud::api::VPC_VERSION,
            "DescribeVSwitches",
            &[("RegionId", REGION), ("VpcId", "vpc-tight")],
        )
        .await
        .unwrap();
    assert_ok(&r);
    let mut out = serde_json::Map::new();
    for v in r.body["VSwitches"]["VSwitch"].as_array().expect("list") {
        out.insert(
            v["VSwitchId"].as_str().unwrap().to_string(),
            v["AvailableIpAddressCount"].clone(),
        );
    }
    Value::Object(out)
}

#[tokio::test]
async fn connect_fails_when_vswitch_has_no_free_ip() {
    let mock = Mock::start_with(Some(World::parse(TIGHT_WORLD).unwrap())).await;
    assert_eq!(
        free_ips(&mock).await,
        json!({"vsw-full": 0, "vsw-last-ip": 1})
    );
    let first = mock.buy_visible(&Order::software(REGION)).await;

    let r = mock
        .connect_in(&first, "vpc-tight", "cn-hangzhou-h", "vsw-full")
        .await;
    assert_error(&r, 400, "InvalidVSwitchId.IpNotEnough", &["vsw-full"]);
    assert_eq!(mock.status(&first).await, "Uninitialized");

    // Enablement uses the vSwitch's last free IP (S20) ...
    assert_ok(
        &mock
            .connect_in(&first, "vpc-tight", "cn-hangzhou-j", "vsw-last-ip")
            .await,
    );
    assert_eq!(
        free_ips(&mock).await,
        json!({"vsw-full": 0, "vsw-last-ip": 0})
    );
    // ... so the next instance cannot have it ...
    let second = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock
        .connect_in(&second, "vpc-tight", "cn-hangzhou-j", "vsw-last-ip")
        .await;
    assert_error(&r, 400, "InvalidVSwitchId.IpNotEnough", &["vsw-last-ip"]);

    // ... until the first is refunded and gives it back.
    let r = mock
        .bss(
            "RefundInstance",
            &[
                ("ProductCode", "kms"),
                ("InstanceId", &first),
                ("ImmediatelyRelease", "1"),
            ],
        )
        .await;
    assert_ok(&r);
    assert_eq!(
        free_ips(&mock).await,
        json!({"vsw-full": 0, "vsw-last-ip": 1})
    );
}

#[tokio::test]
async fn cross_site_instance_stays_connecting_without_private_zone() {
    let mock = Mock::start().await;
    // A china-site account outside the mainland ...
    let china = mock.buy_visible(&Order::software("ap-southeast-1")).await;
    assert_ok(
        &mock
            .connect_in(
                &china,
                "vpc-china-ap-southeast-1",
                "ap-southeast-1a,ap-southeast-1b",
                "vsw-china-ap-southeast-1a,vsw-china-ap-southeast-1b",
            )
            .await,
    );
    // ... and an international-site account inside it.
    let intl_client = mock.intl();
    let r = intl_client
        .bss(
            "CreateInstance",
            &crate::harness::refs(&Order::software(REGION).params()),
        )
        .await
        .unwrap();
    assert_ok(&r);
    let intl = r.body["Data"]["InstanceId"].as_str().unwrap().to_string();
    mock.advance(5).await;
    let r = intl_client
        .kms(
            "ConnectKmsInstance",
            &[
                ("KmsInstanceId", &intl),
                ("VpcId", "vpc-intl-cn-hangzhou"),
                ("ZoneIds", &both_zones()),
                (
                    "VSwitchIds",
                    "vsw-intl-cn-hangzhou-h,vsw-intl-cn-hangzhou-j",
                ),
                ("KMProvider", "Aliyun"),
            ],
        )
        .await
        .unwrap();
    assert_ok(&r);

    mock.advance(120).await;
    assert_eq!(mock.status(&china).await, "Connecting");
    let r = intl_client
        .kms("GetKmsInstance", &[("KmsInstanceId", &intl)])
        .await
        .unwrap();
    assert_ok(&r);
    assert_eq!(r.body["KmsInstance"]["Status"], "Connecting");
}
