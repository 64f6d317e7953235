//! Secrets (S05, S52): create and read, versions and stages, deletion and restore, the secret
//! quota, and the key that protects a secret.

use serde_json::{json, Value};

use crate::harness::*;

const DAY_MINUTES: i64 = 24 * 60;

/// A Connected instance with a secret quota and a symmetric key: (instance, key).
async fn setup(mock: &Mock, secret_num: &str) -> (String, String) {
    let inst = mock
        .connected(&Order::software(REGION).set("SecretNum", secret_num))
        .await;
    let key = mock.aes_key(&inst).await;
    (inst, key)
}

async fn create(mock: &Mock, key: &str, name: &str, value: &str) -> Reply {
    mock.kms(
        "CreateSecret",
        &[
            ("SecretName", name),
            ("VersionId", "v1"),
            ("SecretData", value),
            ("EncryptionKeyId", key),
        ],
    )
    .await
}

async fn value(mock: &Mock, params: &[(&str, &str)]) -> Value {
    let r = mock.kms("GetSecretValue", params).await;
    assert_ok(&r);
    r.body
}

fn stages(v: &Value) -> Vec<String> {
    v["VersionStages"]["VersionStage"]
        .as_array()
        .unwrap_or_else(|| panic!("VersionStages.VersionStage is not a list: {v}"))
        .iter()
        .map(text)
        .collect()
}

use mockcloud::testing::Reply;

#[tokio::test]
async fn create_read_and_put_versions_of_a_secret() {
    let mock = Mock::start().await;
    let (inst, key) = setup(&mock, "10").await;
    let r = mock
        .kms(
            "CreateSecret",
            &[
                ("SecretName", "db/pass"),
                ("VersionId", "v1"),
                ("SecretData", "p@ss w+rd&=~"),
                ("EncryptionKeyId", &key),
                ("DKMSInstanceId", &inst),
                ("Description", "database"),
                ("ExtendedConfig", r#"{"x":1}"#),
            ],
        )
        .await;
    assert_ok(&r);
    assert_eq!(
        r.body["Arn"],
        format!("acs:kms:{REGION}:{CHINA_ACCOUNT}:secret/db/pass").as_str()
    );
    for (f, v) in [
        ("SecretName", "db/pass"),
        ("VersionId", "v1"),
        ("SecretType", "Generic"),
        ("DKMSInstanceId", inst.as_str()),
    ] {
        assert_eq!(r.body[f], v, "{f} in {}", r.body);
    }

    let v = value(&mock, &[("SecretName", "db/pass")]).await;
    assert_eq!(
        (
            v["SecretData"].clone(),
            v["SecretDataType"].clone(),
            v["VersionId"].clone()
        ),
        (json!("p@ss w+rd&=~"), json!("text"), json!("v1"))
    );
    assert_eq!(stages(&v), ["ACSCurrent"]);
    assert!(v.get("ExtendedConfig").is_none());
    let v = value(
        &mock,
        &[("SecretName", "db/pass"), ("FetchExtendedConfig", "true")],
    )
    .await;
    assert_eq!(v["ExtendedConfig"], r#"{"x":1}"#);

    let put = |id: &'static str, data: &'static str| {
        [
            ("SecretName", "db/pass"),
            ("VersionId", id),
            ("SecretData", data),
        ]
    };
    let r = mock.kms("PutSecretValue", &put("v2", "second")).await;
    assert_ok(&r);
    assert_eq!(stages(&r.body), ["ACSCurrent"]);
    assert_eq!(r.body["VersionId"], "v2");
    assert_eq!(
        value(&mock, &[("SecretName", "db/pass")]).await["SecretData"],
        "second"
    );
    let prev = value(
        &mock,
        &[("SecretName", "db/pass"), ("VersionStage", "ACSPrevious")],
    )
    .await;
    assert_eq!(
        (prev["VersionId"].clone(), stages(&prev)),
        (json!("v1"), vec!["ACSPrevious".to_string()])
    );
    let by_id = value(&mock, &[("SecretName", "db/pass"), ("VersionId", "v1")]).await;
    assert_eq!(by_id["SecretData"], "p@ss w+rd&=~");
    // The same version id again: the same value is a no-op, another value is refused.
    assert_ok(&mock.kms("PutSecretValue", &put("v2", "second")).await);
    let r = mock.kms("PutSecretValue", &put("v2", "changed")).await;
    assert_error(&r, 409, "Rejected.ResourceExist", &["v2"]);
    // A custom stage leaves ACSCurrent where it is.
    let r = mock
        .kms(
            "PutSecretValue",
            &[
                ("SecretName", "db/pass"),
                ("VersionId", "v3"),
                ("SecretData", "next"),
                ("VersionStages", r#"["ACSNext"]"#),
            ],
        )
        .await;
    assert_ok(&r);
    assert_eq!(stages(&r.body), ["ACSNext"]);
    assert_eq!(
        value(&mock, &[("SecretName", "db/pass")]).await["VersionId"],
        "v2"
    );

    let r = mock
        .kms("ListSecretVersionIds", &[("SecretName", "db/pass")])
        .await;
    assert_ok(&r);
    assert_eq!(r.body["TotalCount"], 3);
    let listed: Vec<(String, Vec<String>)> = r.body["VersionIds"]["VersionId"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (text(&v["VersionId"]), stages(v)))
        .collect();
    assert_eq!(
        listed,
        [
            ("v1".to_string(), vec!["ACSPrevious".to_string()]),
            ("v2".to_string(), vec!["ACSCurrent".to_string()]),
            ("v3".to_string(), vec!["ACSNext".to_string()]),
        ]
    );

    let r = mock
        .kms("DescribeSecret", &[("SecretName", "db/pass")])
        .await;
    assert_ok(&r);
    for (f, v) in [
        ("SecretName", "db/pass"),
        ("Description", "database"),
        ("EncryptionKeyId", key.as_str()),
        ("DKMSInstanceId", inst.as_str()),
        ("SecretType", "Generic"),
    ] {
        assert_eq!(r.body[f], v, "{f} in {}", r.body);
    }
    assert!(r.body.get("SecretData").is_none());
    assert!(r.body.get("PlannedDeleteTime").is_none());
    assert_ok(
        &mock
            .kms(
                "UpdateSecret",
                &[("SecretName", "db/pass"), ("Description", "renamed")],
            )
            .await,
    );
    let arn = format!("acs:kms:{REGION}:{CHINA_ACCOUNT}:secret/db/pass");
    let r = mock.kms("DescribeSecret", &[("SecretName", &arn)]).await;
    assert_eq!(r.body["Description"], "renamed");

    let r = create(&mock, &key, "db/pass", "again").await;
    assert_error(&r, 409, "Rejected.ResourceExist", &["db/pass"]);
    let r = mock.kms("ListSecrets", &[]).await;
    assert_ok(&r);
    assert_eq!(r.body["TotalCount"], 1);
    assert_eq!(r.body["SecretList"]["Secret"][0]["SecretName"], "db/pass");
    let r = mock
        .kms(
            "ListSecrets",
            &[("Filters", r#"[{"Key":"SecretName","Values":["nothing"]}]"#)],
        )
        .await;
    assert_eq!(r.body["TotalCount"], 0);
}

#[tokio::test]
async fn a_secret_keeps_at_most_ten_versions() {
    let mock = Mock::start().await;
    let (_, key) = setup(&mock, "1").await;
    assert_ok(&create(&mock, &key, "many", "0").await);
    for i in 2..=12 {
        let id = format!("v{i}");
        let r = mock
            .kms(
                "PutSecretValue",
                &[
                    ("SecretName", "many"),
                    ("VersionId", &id),
                    ("SecretData", &id),
                ],
            )
            .await;
        assert_ok(&r);
    }
    let r = mock
        .kms(
            "ListSecretVersionIds",
            &[
                ("SecretName", "many"),
                ("IncludeDeprecated", "true"),
                ("PageSize", "100"),
            ],
        )
        .await;
    assert_eq!(r.body["TotalCount"], 10, "{}", r.body);
    assert_eq!(r.body["VersionIds"]["VersionId"][0]["VersionId"], "v3");
    // Without deprecated versions only the staged ones are listed.
    let r = mock
        .kms("ListSecretVersionIds", &[("SecretName", "many")])
        .await;
    assert_eq!(r.body["TotalCount"], 2, "{}", r.body);
    let r = mock
        .kms(
            "GetSecretValue",
            &[("SecretName", "many"), ("VersionId", "v1")],
        )
        .await;
    assert_error(&r, 404, "Forbidden.ResourceNotFound", &["v1"]);
}

#[tokio::test]
async fn delete_restore_and_force_delete() {
    let mock = Mock::start().await;
    let (_, key) = setup(&mock, "5").await;
    assert_ok(&create(&mock, &key, "app", "value").await);
    let r = mock
        .kms(
            "DeleteSecret",
            &[("SecretName", "app"), ("RecoveryWindowInDays", "6")],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["RecoveryWindowInDays"]);
    let r = mock.kms("DeleteSecret", &[("SecretName", "app")]).await;
    assert_ok(&r);
    let planned = text(&r.body["PlannedDeleteTime"]);
    let d = mock.kms("DescribeSecret", &[("SecretName", "app")]).await;
    assert_eq!(d.body["PlannedDeleteTime"], planned.as_str());
    let r = mock.kms("GetSecretValue", &[("SecretName", "app")]).await;
    assert_error(&r, 409, "Rejected.ResourceInDeleteWindow", &["app"]);
    let r = create(&mock, &key, "app", "other").await;
    assert_error(&r, 409, "Rejected.ResourceInDeleteWindow", &["app"]);
    let r = mock.kms("DeleteSecret", &[("SecretName", "app")]).await;
    assert_error(&r, 409, "Rejected.ResourceInDeleteWindow", &["app"]);
    assert_ok(&mock.kms("RestoreSecret", &[("SecretName", "app")]).await);
    assert_eq!(
        value(&mock, &[("SecretName", "app")]).await["SecretData"],
        "value"
    );
    let r = mock.kms("RestoreSecret", &[("SecretName", "app")]).await;
    assert_error(&r, 409, "Rejected.ResourceInUse", &["app"]);

    // A 7-day window passes and the name is free again.
    let r = mock
        .kms(
            "DeleteSecret",
            &[("SecretName", "app"), ("RecoveryWindowInDays", "7")],
        )
        .await;
    assert_ok(&r);
    mock.advance(7 * DAY_MINUTES).await;
    let r = mock.kms("DescribeSecret", &[("SecretName", "app")]).await;
    assert_error(&r, 404, "Forbidden.ResourceNotFound", &["app"]);
    assert_ok(&create(&mock, &key, "app", "reborn").await);

    let r = mock
        .kms(
            "DeleteSecret",
            &[
                ("SecretName", "app"),
                ("ForceDeleteWithoutRecovery", "true"),
            ],
        )
        .await;
    assert_ok(&r);
    let r = mock.kms("GetSecretValue", &[("SecretName", "app")]).await;
    assert_error(&r, 404, "Forbidden.ResourceNotFound", &["app"]);
}

#[tokio::test]
async fn secrets_count_against_the_secret_quota_exactly_and_an_upgrade_raises_it() {
    let mock = Mock::start().await;
    let (inst, key) = setup(&mock, "0").await;
    // The default secret quota is 0 (S05).
    let r = create(&mock, &key, "s0", "x").await;
    assert_error(&r, 400, "Rejected.LimitExceeded", &["SecretNum", &inst]);
    mock.upgrade(&inst, "SecretNum", "2").await;
    assert_ok(&create(&mock, &key, "s1", "x").await);
    // Versions do not count: a secret with many versions is one secret.
    for v in ["v2", "v3"] {
        let r = mock
            .kms(
                "PutSecretValue",
                &[("SecretName", "s1"), ("VersionId", v), ("SecretData", v)],
            )
            .await;
        assert_ok(&r);
    }
    assert_ok(&create(&mock, &key, "s2", "x").await);
    let r = create(&mock, &key, "s3", "x").await;
    assert_error(&r, 400, "Rejected.LimitExceeded", &["SecretNum", "2"]);
    let r = mock
        .kms(
            "GetKmsInstanceQuotaInfos",
            &[("KmsInstanceId", &inst), ("ResourceType", "secret")],
        )
        .await;
    assert_eq!(
        r.body["KmsInstanceQuotaInfos"],
        json!([{"ResourceType": "secret", "ResourceQuota": 2, "UsedQuantity": 2}])
    );
    // A secret deleted at once frees its place.
    let r = mock
        .kms(
            "DeleteSecret",
            &[("SecretName", "s2"), ("ForceDeleteWithoutRecovery", "true")],
        )
        .await;
    assert_ok(&r);
    assert_ok(&create(&mock, &key, "s3", "x").await);
}

#[tokio::test]
async fn the_encryption_key_decides_where_a_secret_lives_and_whether_it_is_readable() {
    let mock = Mock::start().await;
    let (inst, key) = setup(&mock, "5").await;
    let (ec, _) = mock.ec_key(&inst).await;
    let other_inst = mock
        .connected(&Order::software(REGION).set("SecretNum", "5"))
        .await;

    let r = mock
        .kms(
            "CreateSecret",
            &[
                ("SecretName", "a"),
                ("VersionId", "v1"),
                ("SecretData", "x"),
            ],
        )
        .await;
    assert_error(&r, 400, "MissingParameter", &["EncryptionKeyId"]);
    let r = create(&mock, &ec, "a", "x").await;
    assert_error(&r, 400, "Rejected.UnsupportedOperation", &[&ec]);
    let r = create(&mock, "key-nothere", "a", "x").await;
    assert_error(&r, 404, "Forbidden.KeyNotFound", &["EncryptionKeyId"]);
    let r = mock
        .kms(
            "CreateSecret",
            &[
                ("SecretName", "a"),
                ("VersionId", "v1"),
                ("SecretData", "x"),
                ("EncryptionKeyId", &key),
                ("DKMSInstanceId", &other_inst),
            ],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["DKMSInstanceId", &inst]);
    for (name, mention) in [("acs/x", "SecretName"), ("a b", "SecretName")] {
        let r = create(&mock, &key, name, "x").await;
        assert_error(&r, 400, "InvalidParameter", &[mention]);
    }
    let r = mock
        .kms(
            "CreateSecret",
            &[
                ("SecretName", "a"),
                ("VersionId", "v1"),
                ("SecretData", "x"),
                ("EncryptionKeyId", &key),
                ("SecretType", "Rds"),
            ],
        )
        .await;
    assert_error(&r, 400, "Rejected.UnsupportedOperation", &["SecretType"]);

    // Through an alias of the key; the secret then lives in the key's instance.
    assert_ok(
        &mock
            .kms(
                "CreateAlias",
                &[("AliasName", "alias/secrets"), ("KeyId", &key)],
            )
            .await,
    );
    assert_ok(&create(&mock, "alias/secrets", "a", "guarded").await);
    let d = mock.kms("DescribeSecret", &[("SecretName", "a")]).await;
    assert_eq!(
        (
            d.body["EncryptionKeyId"].clone(),
            d.body["DKMSInstanceId"].clone()
        ),
        (json!(key), json!(inst))
    );
    // A disabled key makes the value unreadable and unwritable.
    assert_ok(&mock.kms("DisableKey", &[("KeyId", &key)]).await);
    let r = mock.kms("GetSecretValue", &[("SecretName", "a")]).await;
    assert_error(&r, 409, "Rejected.Disabled", &[&key]);
    let r = mock
        .kms(
            "PutSecretValue",
            &[
                ("SecretName", "a"),
                ("VersionId", "v2"),
                ("SecretData", "y"),
            ],
        )
        .await;
    assert_error(&r, 409, "Rejected.Disabled", &[&key]);
    assert_ok(&mock.kms("EnableKey", &[("KeyId", &key)]).await);
    assert_eq!(
        value(&mock, &[("SecretName", "a")]).await["SecretData"],
        "guarded"
    );
    // Another account sees no such secret.
    let r = mock
        .intl()
        .kms("GetSecretValue", &[("SecretName", "a")])
        .await
        .unwrap();
    assert_error(&r, 404, "Forbidden.ResourceNotFound", &["a"]);
}
