//! Instance lifecycle after purchase: listing, refund, upgrade (S12) and renewal (S09).

use std::collections::BTreeSet;

use crate::harness::{
    assert_error, assert_ok, available_ids, listed_ids, Mock, Order, CHINA_ACCOUNT, REGION,
};

#[tokio::test]
async fn list_kms_instances_pages_one_item_per_page() {
    let mock = Mock::start().await;
    let a = mock.buy(&Order::software(REGION)).await;
    let b = mock.buy(&Order::software(REGION)).await;
    mock.advance(5).await;

    let mut seen = BTreeSet::new();
    for page in ["1", "2"] {
        let body = mock
            .list(&mock.client, &[("PageSize", "1"), ("PageNumber", page)])
            .await;
        assert_eq!(body["TotalCount"], 2, "{body}");
        assert_eq!(body["PageSize"], 1, "{body}");
        assert_eq!(body["PageNumber"], page.parse::<u32>().unwrap(), "{body}");
        let items = body["KmsInstances"]["KmsInstance"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{body}");
        let id = items[0]["KmsInstanceId"].as_str().unwrap();
        assert_eq!(
            items[0]["KmsInstanceArn"],
            format!("acs:kms:{REGION}:{CHINA_ACCOUNT}:keystore/{id}")
        );
        seen.insert(id.to_string());
    }
    assert_eq!(seen, BTreeSet::from([a, b]));

    let past_the_end = mock
        .list(&mock.client, &[("PageSize", "1"), ("PageNumber", "3")])
        .await;
    assert_eq!(past_the_end["TotalCount"], 2);
    assert!(listed_ids(&past_the_end).is_empty());
}

#[tokio::test]
async fn refund_removes_instance_from_kms_and_bss() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let keep = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock
        .bss(
            "RefundInstance",
            &[
                ("ProductCode", "kms"),
                ("InstanceId", &id),
                ("ImmediatelyRelease", "1"),
            ],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["Data"]["InstanceId"], id.as_str());

    assert_error(
        &mock.get(&id).await,
        403,
        "Forbidden.DKMSInstanceNotFound",
        &[&id],
    );
    assert_eq!(
        listed_ids(&mock.list(&mock.client, &[]).await),
        [keep.as_str()]
    );
    assert_eq!(available_ids(&mock.available(&mock.client).await), [keep]);

    // A second refund finds nothing to refund.
    let r = mock
        .bss(
            "RefundInstance",
            &[("ProductCode", "kms"), ("InstanceId", &id)],
        )
        .await;
    assert_error(&r, 400, "ResourceNotExists", &[&id]);
}

#[tokio::test]
async fn refund_of_unknown_instance_is_resource_not_exists() {
    let mock = Mock::start().await;
    let r = mock
        .bss(
            "RefundInstance",
            &[("ProductCode", "kms"), ("InstanceId", "kst-hzznothere")],
        )
        .await;
    assert_error(&r, 400, "ResourceNotExists", &["kst-hzznothere"]);
}

async fn upgrade(mock: &Mock, id: &str, code: &str, value: &str) -> mockcloud::testing::Reply {
    mock.bss(
        "ModifyInstance",
        &[
            ("ProductCode", "kms"),
            ("SubscriptionType", "Subscription"),
            ("InstanceId", id),
            ("ModifyType", "Upgrade"),
            ("Parameter.1.Code", code),
            ("Parameter.1.Value", value),
        ],
    )
    .await
}

#[tokio::test]
async fn upgrade_raises_key_quota_and_refuses_a_lower_one() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    assert_eq!(mock.instance(&id).await["KeyNum"], 1000);

    assert_ok(&upgrade(&mock, &id, "KeyNum", "2000").await);
    assert_eq!(mock.instance(&id).await["KeyNum"], 2000);

    let r = upgrade(&mock, &id, "KeyNum", "1500").await;
    assert_error(
        &r,
        409,
        "Rejected.DowngradeNotSupported",
        &["KeyNum", "2000", "1500"],
    );
    assert_eq!(mock.instance(&id).await["KeyNum"], 2000, "unchanged");

    // Secret quota, default 0, can be bought later (S05).
    assert_ok(&upgrade(&mock, &id, "SecretNum", "100").await);
    assert_eq!(mock.instance(&id).await["SecretNum"], "100");
}

#[tokio::test]
async fn modify_type_other_than_upgrade_is_refused_naming_it() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock
        .bss(
            "ModifyInstance",
            &[
                ("ProductCode", "kms"),
                ("InstanceId", &id),
                ("ModifyType", "Downgrade"),
                ("Parameter.1.Code", "KeyNum"),
                ("Parameter.1.Value", "100"),
            ],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["ModifyType"]);
}

#[tokio::test]
async fn set_renewal_changes_renew_status_seen_by_bss() {
    let mock = Mock::start().await;
    let id = mock.buy(&Order::software(REGION)).await;
    let item = &mock.available(&mock.client).await["InstanceList"][0];
    assert_eq!(item["RenewStatus"], "ManualRenewal");

    let r = mock
        .bss(
            "SetRenewal",
            &[
                ("ProductCode", "kms"),
                ("InstanceIDs", &id),
                ("RenewalStatus", "AutoRenewal"),
                ("RenewalPeriod", "12"),
                ("RenewalPeriodUnit", "M"),
            ],
        )
        .await;
    assert_ok(&r);
    let item = &mock.available(&mock.client).await["InstanceList"][0];
    assert_eq!(item["InstanceID"], id.as_str());
    assert_eq!(item["RenewStatus"], "AutoRenewal");
    assert_eq!(item["RenewalDuration"], 12);

    let r = mock
        .bss(
            "SetRenewal",
            &[
                ("ProductCode", "kms"),
                ("InstanceIDs", &id),
                ("RenewalStatus", "Sometimes"),
            ],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["RenewalStatus"]);
}
