//! Seed rules not covered elsewhere, one test per rule or rule group: S01, S04–S10, S21, S23
//! activation, S52 expiry, and the `/_mock/faults` controls.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

const MONTH_MINUTES: i64 = 30 * 24 * 60;

async fn connected(mock: &Mock, order: &Order) -> String {
    let id = mock.buy_visible(order).await;
    assert_ok(&mock.connect(&id, ZONE_H, VSW_H).await);
    mock.advance(30).await;
    assert_eq!(mock.status(&id).await, "Connected");
    id
}

#[tokio::test]
async fn management_type_must_be_software_hardware_or_external() {
    let mock = Mock::start().await;
    let r = mock
        .create_instance(&Order::software(REGION).set("ProductVersion", "9"))
        .await;
    assert_error(&r, 400, "InvalidParameter", &["ProductVersion"]);
    // A hardware instance is bought, but the software enablement refuses it (S01, S30).
    let id = mock
        .buy_visible(&Order::software(REGION).set("ProductVersion", "1"))
        .await;
    assert_eq!(mock.instance(&id).await["ProductVersion"], "1");
    let r = mock.connect(&id, ZONE_H, VSW_H).await;
    assert_error(&r, 409, "Rejected.UnsupportedOperation", &[&id]);
    assert_eq!(mock.status(&id).await, "Uninitialized");
}

#[tokio::test]
async fn key_and_secret_quotas_default_and_stay_in_range() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let inst = mock.instance(&id).await;
    assert_eq!(
        (inst["KeyNum"].clone(), inst["SecretNum"].clone()),
        (json!(1000), json!("0"))
    );
    for (code, value) in [
        ("KeyNum", "99"),
        ("KeyNum", "100001"),
        ("SecretNum", "100001"),
        ("VpcNum", "0"),
    ] {
        let r = mock
            .create_instance(&Order::software(REGION).set(code, value))
            .await;
        assert_error(&r, 400, "InvalidParameter", &[code]);
    }
    // A secret quota can be bought later by upgrade (S05).
    let r = mock
        .bss(
            "ModifyInstance",
            &[
                ("ProductCode", "kms"),
                ("ModifyType", "Upgrade"),
                ("InstanceId", &id),
                ("Parameter.1.Code", "SecretNum"),
                ("Parameter.1.Value", "50"),
            ],
        )
        .await;
    assert_ok(&r);
    assert_eq!(mock.instance(&id).await["SecretNum"], "50");
}

#[tokio::test]
async fn log_analysis_once_on_cannot_be_turned_off() {
    let mock = Mock::start().await;
    let id = mock
        .buy_visible(
            &Order::software(REGION)
                .set("Log", "1")
                .set("LogStorage", "1000"),
        )
        .await;
    let r = mock
        .bss(
            "ModifyInstance",
            &[
                ("ProductCode", "kms"),
                ("ModifyType", "Upgrade"),
                ("InstanceId", &id),
                ("Parameter.1.Code", "Log"),
                ("Parameter.1.Value", "0"),
            ],
        )
        .await;
    assert_error(
        &r,
        409,
        "Rejected.LogAnalysisCannotBeDisabled",
        &["Log analysis"],
    );
    assert_eq!(mock.instance(&id).await["Log"], 1);
}

#[tokio::test]
async fn more_than_one_instance_per_purchase_needs_support() {
    let mock = Mock::start().await;
    let r = mock
        .create_instance(&Order::software(REGION).set("Quantity", "2"))
        .await;
    assert_error(
        &r,
        409,
        "Rejected.QuantityExceeded",
        &["One KMS instance per purchase"],
    );
    assert_eq!(mock.available(&mock.client).await["TotalCount"], 0);
}

#[tokio::test]
async fn subscription_period_and_renewal_values_are_checked() {
    let mock = Mock::start().await;
    let r = mock
        .create_instance(&Order::software(REGION).with("Period", "5"))
        .await;
    assert_error(&r, 400, "InvalidParameter", &["Period"]);
    let r = mock
        .create_instance(&Order::software(REGION).with("RenewalStatus", "Sometimes"))
        .await;
    assert_error(&r, 400, "InvalidParameter", &["RenewalStatus"]);
    let r = mock
        .create_instance(&Order::software(REGION).with("RenewPeriod", "7"))
        .await;
    assert_error(&r, 400, "InvalidParameter", &["RenewPeriod"]);
}

#[tokio::test]
async fn instance_backup_is_for_software_instances_only() {
    let mock = Mock::start().await;
    let r = mock
        .create_instance(
            &Order::software(REGION)
                .set("ProductVersion", "1")
                .set("InstanceBackup", "1"),
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["InstanceBackup"]);
    let id = mock
        .buy_visible(&Order::software(REGION).set("InstanceBackup", "1"))
        .await;
    assert_eq!(mock.instance(&id).await["InstanceBackup"], true);
}

#[tokio::test]
async fn instance_name_allows_letters_digits_and_the_seed_symbols_only() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock
        .kms(
            "UpdateKmsInstance",
            &[("KmsInstanceId", &id), ("InstanceName", "prod kms!")],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["InstanceName"]);
    let r = mock
        .kms(
            "UpdateKmsInstance",
            &[("KmsInstanceId", &id), ("InstanceName", "a_b/c+d=e.f@g-h")],
        )
        .await;
    assert_ok(&r);
    assert_eq!(mock.instance(&id).await["InstanceName"], "a_b/c+d=e.f@g-h");
}

#[tokio::test]
async fn activating_private_zone_lets_a_cross_site_enablement_finish() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software("ap-southeast-1")).await;
    let r = mock
        .connect_in(
            &id,
            "vpc-china-ap-southeast-1",
            "ap-southeast-1a",
            "vsw-china-ap-southeast-1a",
        )
        .await;
    assert_ok(&r);
    mock.advance(120).await;
    assert_eq!(mock.status(&id).await, "Connecting");
    let r = mock
        .client
        .admin_post(&format!("/_mock/accounts/{CHINA_ACCOUNT}/private-zone"))
        .await
        .unwrap();
    assert_eq!(r["private_zone_activated"], true);
    mock.advance(29).await;
    assert_eq!(
        mock.status(&id).await,
        "Connecting",
        "enablement takes 30 minutes from activation"
    );
    mock.advance(1).await;
    assert_eq!(mock.status(&id).await, "Connected");
}

#[tokio::test]
async fn without_auto_renewal_the_instance_expires_and_can_no_longer_be_changed() {
    let mock = Mock::start().await;
    let id = connected(&mock, &Order::software(REGION)).await;
    mock.advance(MONTH_MINUTES).await;
    let inst = mock.instance(&id).await;
    assert_eq!(inst["SaleStatus"], "Expired", "{inst}");
    let data = mock.available(&mock.client).await;
    assert_eq!(data["InstanceList"][0]["Status"], "Expired", "{data}");
    let r = mock
        .kms(
            "UpdateKmsInstance",
            &[("KmsInstanceId", &id), ("InstanceName", "late")],
        )
        .await;
    assert_error(&r, 403, "Forbidden.DKMSInstanceStateInvalid", &["Expired"]);
}

#[tokio::test]
async fn with_auto_renewal_the_subscription_end_moves_on() {
    let mock = Mock::start().await;
    let id = connected(
        &mock,
        &Order::software(REGION)
            .with("RenewalStatus", "AutoRenewal")
            .with("RenewPeriod", "1"),
    )
    .await;
    let end_before = mock.instance(&id).await["EndDate"]
        .as_str()
        .unwrap()
        .to_string();
    mock.advance(MONTH_MINUTES + 60).await;
    let inst = mock.instance(&id).await;
    assert_eq!(inst["SaleStatus"], "Normal", "{inst}");
    assert!(
        inst["EndDate"].as_str().unwrap() > end_before.as_str(),
        "{inst}"
    );
    assert_eq!(inst["Status"], "Connected");
}

#[tokio::test]
async fn injected_connect_error_gives_status_error_and_a_second_connect_recovers() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    put_faults(&mock, json!({"connect_error": "capacity"})).await;
    assert_ok(&mock.connect(&id, ZONE_H, VSW_H).await);
    assert_eq!(mock.status(&id).await, "Error");
    assert_ok(&mock.connect(&id, ZONE_H, VSW_H).await);
    mock.advance(30).await;
    assert_eq!(mock.status(&id).await, "Connected");
}

#[tokio::test]
async fn injected_throttling_server_errors_and_lost_responses_answer_the_next_requests() {
    let mock = Mock::start().await;
    put_faults(&mock, json!({"throttle": 1, "server_error": 1})).await;
    let r = mock.kms("ListKmsInstances", &[]).await;
    assert_error(&r, 400, "Throttling", &[]);
    let r = mock.kms("ListKmsInstances", &[]).await;
    assert_error(&r, 503, "ServiceUnavailableTemporary", &[]);
    assert_ok(&mock.kms("ListKmsInstances", &[]).await);

    // A lost response: the purchase happens, the client sees 503, its retry with the same
    // ClientToken gets the same instance.
    put_faults(&mock, json!({"lose_response": 1})).await;
    let order = Order::software(REGION).with("ClientToken", "token-1");
    let r = mock.create_instance(&order).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let id = mock.buy(&order).await;
    let data = mock.available(&mock.client).await;
    assert_eq!(data["TotalCount"], 1, "{data}");
    assert_eq!(data["InstanceList"][0]["InstanceID"], id.as_str());
}

#[tokio::test]
async fn injected_latency_delays_every_signed_request() {
    let mock = Mock::start().await;
    put_faults(&mock, json!({"latency_ms": 300})).await;
    let start = Instant::now();
    assert_ok(&mock.kms("ListKmsInstances", &[]).await);
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    put_faults(&mock, json!({})).await;
}

async fn put_faults(mock: &Mock, faults: serde_json::Value) {
    let url = format!("{}/_mock/faults", mock.server.endpoint);
    let resp = mock
        .client
        .http()
        .put(url)
        .json(&faults)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn arns_must_name_the_callers_account_and_the_resources_region() {
    let mock = Mock::start().await;
    let id = connected(&mock, &Order::software(REGION)).await;
    let r = mock.kms("CreateKey", &[("DKMSInstanceId", &id)]).await;
    assert_ok(&r);
    let key = r.body["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();

    let arn = |region: &str, account: &str, res: &str| format!("acs:kms:{region}:{account}:{res}");
    let good = arn(REGION, CHINA_ACCOUNT, &format!("key/{key}"));
    assert_ok(
        &mock
            .kms("Encrypt", &[("KeyId", &good), ("Plaintext", "x")])
            .await,
    );
    let elsewhere = arn("cn-shanghai", CHINA_ACCOUNT, &format!("key/{key}"));
    let r = mock
        .kms("Encrypt", &[("KeyId", &elsewhere), ("Plaintext", "x")])
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "Forbidden.KeyNotFound"),
        "{}",
        r.body
    );

    // Deletion protection through an instance ARN: wrong account or region changes nothing.
    for bad in [
        arn(REGION, "9999999999999999", &format!("keystore/{id}")),
        arn("cn-shanghai", CHINA_ACCOUNT, &format!("keystore/{id}")),
    ] {
        let r = mock
            .kms(
                "SetDeletionProtection",
                &[
                    ("ProtectedResourceArn", &bad),
                    ("EnableDeletionProtection", "true"),
                ],
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "Forbidden.DKMSInstanceNotFound"),
            "{bad}: {}",
            r.body
        );
        assert_eq!(mock.instance(&id).await["DeletionProtection"], false);
    }
    let ok = arn(REGION, CHINA_ACCOUNT, &format!("keystore/{id}"));
    assert_ok(
        &mock
            .kms(
                "SetDeletionProtection",
                &[
                    ("ProtectedResourceArn", &ok),
                    ("EnableDeletionProtection", "true"),
                ],
            )
            .await,
    );
    assert_eq!(mock.instance(&id).await["DeletionProtection"], true);
}

#[tokio::test]
async fn software_enablement_refuses_hardware_parameters_and_faults_refuse_unknown_fields() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock
        .kms(
            "ConnectKmsInstance",
            &[
                ("KmsInstanceId", &id),
                ("VpcId", VPC),
                ("ZoneIds", ZONE_H),
                ("VSwitchIds", VSW_H),
                ("HsmClusterId", "hsm-hangzhou-auto"),
            ],
        )
        .await;
    assert_error(
        &r,
        400,
        "InvalidParameter",
        &["HsmClusterId", "KMProvider=HSM"],
    );
    assert_eq!(mock.status(&id).await, "Uninitialized");

    let r = mock
        .kms("ListKmsInstances", &[("PageSize", "4294967296")])
        .await;
    assert_error(&r, 400, "InvalidParameter", &["PageSize", "too large"]);

    let url = format!("{}/_mock/faults", mock.server.endpoint);
    let resp = mock
        .client
        .http()
        .put(url)
        .body(r#"{"bogus": 1}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
}
