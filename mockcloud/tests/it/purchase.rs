//! Purchase through BSS CreateInstance (S01–S11).

use crate::harness::{
    assert_error, assert_ok, available_ids, default_world_with, listed_ids, Mock, Order, REGION,
};

#[tokio::test]
async fn purchase_returns_kst_instance_id() {
    let mock = Mock::start().await;
    let r = mock.create_instance(&Order::software(REGION)).await;
    assert_ok(&r);
    assert_eq!(r.body["Code"], "Success");
    assert_eq!(r.body["Success"], true);
    let id = r.body["Data"]["InstanceId"].as_str().unwrap();
    assert!(id.starts_with("kst-"), "{id}");
    assert!(r.body["Data"]["OrderId"]
        .as_str()
        .is_some_and(|o| !o.is_empty()));
}

#[tokio::test]
async fn same_client_token_buys_only_once() {
    let mock = Mock::start().await;
    let order = Order::software(REGION).with("ClientToken", "token-1");
    let first = mock.buy(&order).await;
    let second = mock.buy(&order).await;
    assert_eq!(first, second);
    let data = mock.available(&mock.client).await;
    assert_eq!(available_ids(&data), [first.as_str()]);
    assert_eq!(data["TotalCount"], 1);
    // Another token is another purchase.
    let third = mock
        .buy(&Order::software(REGION).with("ClientToken", "token-2"))
        .await;
    assert_ne!(third, first);
}

#[tokio::test]
async fn purchased_instance_is_hidden_from_kms_until_visibility_delay_passes() {
    let mock = Mock::start().await;
    let id = mock.buy(&Order::software(REGION)).await;

    assert_error(
        &mock.get(&id).await,
        403,
        "Forbidden.DKMSInstanceNotFound",
        &[&id],
    );
    let listed = mock.list(&mock.client, &[]).await;
    assert_eq!(listed["TotalCount"], 0, "{listed}");
    // The BSS knows the purchase already.
    let data = mock.available(&mock.client).await;
    assert_eq!(available_ids(&data), [id.as_str()]);
    assert_eq!(data["InstanceList"][0]["Region"], REGION);

    mock.advance(5).await;
    let inst = mock.instance(&id).await;
    assert_eq!(inst["InstanceId"], id.as_str());
    assert_eq!(inst["Status"], "Uninitialized");
    assert_eq!(listed_ids(&mock.list(&mock.client, &[]).await), [id]);
}

#[tokio::test]
async fn purchase_fails_when_spec_is_not_offered() {
    let mock = Mock::start().await;
    for spec in ["300", "fast"] {
        let r = mock
            .create_instance(&Order::software(REGION).set("Spec", spec))
            .await;
        assert_error(&r, 400, "InvalidParameter", &["Spec", spec]);
    }
    let data = mock.available(&mock.client).await;
    assert_eq!(data["TotalCount"], 0, "a refused purchase buys nothing");
}

#[tokio::test]
async fn purchase_of_spec_10000_needs_support_entitlement() {
    let mock = Mock::start().await;
    let order = Order::software(REGION).set("Spec", "10000");
    let r = mock.create_instance(&order).await;
    assert_error(&r, 409, "Rejected.ContactSupport", &["10000"]);

    let entitled = Mock::start_with(Some(default_world_with(
        "entitlements = []",
        "entitlements = [\"high_performance\"]",
    )))
    .await;
    let id = entitled.buy_visible(&order).await;
    assert_eq!(entitled.instance(&id).await["Spec"], 10000);
}

#[tokio::test]
async fn purchase_in_unknown_region_is_refused() {
    let mock = Mock::start().await;
    let r = mock.create_instance(&Order::software("mars-north-1")).await;
    assert_error(&r, 400, "InvalidRegionId.NotFound", &["mars-north-1"]);
}

#[tokio::test]
async fn single_zone_region_defaults_to_single_zone_deployment() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software("ap-southeast-6")).await;
    let inst = mock.instance(&id).await;
    assert_eq!(inst["DeploymentMode"], "single_zone");

    // Dual-zone is the default where there are zones enough.
    let id = mock.buy_visible(&Order::software(REGION)).await;
    assert_eq!(mock.instance(&id).await["DeploymentMode"], "dual_zone");
}

#[tokio::test]
async fn single_zone_region_refuses_dual_zone_deployment() {
    let mock = Mock::start().await;
    let r = mock
        .create_instance(&Order::software("ap-southeast-6").set("DeploymentMode", "dual_zone"))
        .await;
    assert_error(
        &r,
        400,
        "InvalidParameter",
        &["DeploymentMode", "ap-southeast-6"],
    );
}

#[tokio::test]
async fn log_storage_not_in_steps_of_1000_is_refused() {
    let mock = Mock::start().await;
    let r = mock
        .create_instance(
            &Order::software(REGION)
                .set("Log", "1")
                .set("LogStorage", "1500"),
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["LogStorage", "1500"]);

    let id = mock
        .buy_visible(
            &Order::software(REGION)
                .set("Log", "1")
                .set("LogStorage", "2000"),
        )
        .await;
    let inst = mock.instance(&id).await;
    assert_eq!(
        (inst["Log"].clone(), inst["LogStorage"].clone()),
        (1.into(), 2000.into())
    );
}

#[tokio::test]
async fn purchase_without_product_code_is_refused_naming_it() {
    let mock = Mock::start().await;
    let r = mock
        .bss("CreateInstance", &[("Parameter.1.Code", "Region")])
        .await;
    assert_error(&r, 400, "MissingParameter", &["ProductCode"]);
}
