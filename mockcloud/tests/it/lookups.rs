//! Read-only lookups the provider's data sources use: VPC `DescribeZones` and `ListKmsInstances`
//! with `Filters`.

use mockcloud::testing::Reply;

use crate::harness::{assert_error, assert_ok, listed_ids, Mock, Order, REGION, VSW_H, ZONE_H};

async fn vpc(mock: &Mock, action: &str, params: &[(&str, &str)]) -> Reply {
    mock.client
        .call(mockcloud::api::VPC_VERSION, action, params)
        .await
        .expect("VPC call")
}

async fn filtered(mock: &Mock, filters: &str) -> Reply {
    mock.kms("ListKmsInstances", &[("Filters", filters)]).await
}

#[tokio::test]
async fn describe_zones_lists_the_region_zones_in_order() {
    let mock = Mock::start().await;
    let r = vpc(&mock, "DescribeZones", &[("RegionId", REGION)]).await;
    assert_ok(&r);
    let zones = r.body["Zones"]["Zone"].as_array().expect("Zones.Zone list");
    let ids: Vec<&str> = zones
        .iter()
        .map(|z| z["ZoneId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cn-hangzhou-h", "cn-hangzhou-j", "cn-hangzhou-k"]);
    assert_eq!(zones[0]["LocalName"], "cn-hangzhou Zone H");

    let r = vpc(&mock, "DescribeZones", &[("RegionId", "ap-southeast-6")]).await;
    assert_ok(&r);
    assert_eq!(r.body["Zones"]["Zone"][0]["ZoneId"], "ap-southeast-6a");
    assert_eq!(r.body["Zones"]["Zone"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn describe_zones_needs_a_known_region() {
    let mock = Mock::start().await;
    let r = vpc(&mock, "DescribeZones", &[]).await;
    assert_error(&r, 400, "MissingParameter", &["RegionId"]);
    let r = vpc(&mock, "DescribeZones", &[("RegionId", "mars-north-1")]).await;
    assert_error(&r, 400, "InvalidRegionId.NotFound", &["mars-north-1"]);
}

#[tokio::test]
async fn vswitches_filter_by_zone() {
    let mock = Mock::start().await;
    let r = vpc(
        &mock,
        "DescribeVSwitches",
        &[("RegionId", REGION), ("ZoneId", ZONE_H), ("PageSize", "50")],
    )
    .await;
    assert_ok(&r);
    let list = r.body["VSwitches"]["VSwitch"].as_array().unwrap();
    assert!(list.iter().any(|v| v["VSwitchId"] == VSW_H), "{}", r.body);
    for v in list {
        assert_eq!(v["ZoneId"], ZONE_H, "{}", r.body);
        assert!(v["AvailableIpAddressCount"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn list_filters_by_name_status_and_management_type() {
    let mock = Mock::start().await;
    let a = mock.buy(&Order::software(REGION)).await;
    let b = mock.buy(&Order::software(REGION)).await;
    let hsm = mock
        .buy(&Order::software(REGION).set("ProductVersion", "1"))
        .await;
    mock.advance(5).await;
    let r = mock
        .kms(
            "UpdateKmsInstance",
            &[("KmsInstanceId", &a), ("InstanceName", "alpha")],
        )
        .await;
    assert_ok(&r);

    let r = filtered(&mock, r#"[{"Key":"InstanceName","Values":["alpha"]}]"#).await;
    assert_ok(&r);
    assert_eq!(listed_ids(&r.body), [a.as_str()]);
    assert_eq!(r.body["TotalCount"], 1);

    // Values of one key combine with OR.
    let both = format!(r#"[{{"Key":"InstanceName","Values":["alpha","{b}"]}}]"#);
    let mut got = listed_ids(&filtered(&mock, &both).await.body);
    got.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(got, want);

    let r = filtered(&mock, r#"[{"Key":"ManagementType","Values":["hardware"]}]"#).await;
    assert_eq!(listed_ids(&r.body), [hsm.as_str()]);

    // Nothing is enabled yet: every instance is Uninitialized.
    let r = filtered(&mock, r#"[{"Key":"Status","Values":["Connected"]}]"#).await;
    assert_ok(&r);
    assert!(listed_ids(&r.body).is_empty(), "{}", r.body);
    assert_eq!(r.body["TotalCount"], 0);
    let r = filtered(&mock, r#"[{"Key":"Status","Values":["Uninitialized"]}]"#).await;
    assert_eq!(listed_ids(&r.body).len(), 3, "{}", r.body);

    // Different keys combine with AND.
    let r = filtered(
        &mock,
        r#"[{"Key":"Status","Values":["Uninitialized"]},{"Key":"ManagementType","Values":["software"]},{"Key":"InstanceName","Values":["alpha"]}]"#,
    )
    .await;
    assert_eq!(listed_ids(&r.body), [a.as_str()]);

    // An empty list filters nothing.
    assert_eq!(listed_ids(&filtered(&mock, "[]").await.body).len(), 3);
}

#[tokio::test]
async fn list_filters_that_do_not_parse_are_refused_naming_filters() {
    let mock = Mock::start().await;
    for (filters, mentions) in [
        ("not json", "JSON"),
        (r#"{"Key":"Status"}"#, "JSON"),
        (r#"[{"Key":"Colour","Values":["red"]}]"#, "Colour"),
        (r#"[{"Values":["x"]}]"#, "Key"),
        (r#"[{"Key":"Status","Values":[]}]"#, "Values"),
        (r#"[{"Key":"Status","Values":[1]}]"#, "strings"),
    ] {
        let r = filtered(&mock, filters).await;
        assert_error(&r, 400, "InvalidParameter", &["Filters", mentions]);
    }
}
