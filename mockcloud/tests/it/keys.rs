//! Keys in instances (S50, S04, S52): creation and metadata, listing, states, versions,
//! aliases and ARNs, quotas, and which instances serve keys at all.

use serde_json::{json, Value};

use crate::harness::*;

const MONTH_MINUTES: i64 = 30 * 24 * 60;
const DAY_MINUTES: i64 = 24 * 60;

#[tokio::test]
async fn create_key_returns_metadata_with_the_real_fields_and_defaults() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let m = mock
        .create_key(&inst, &[("Description", "app data key")])
        .await;
    let id = text(&m["KeyId"]);
    assert!(id.starts_with("key-hzz"), "{m}");
    for (field, value) in [
        ("KeySpec", "Aliyun_AES_256"),
        ("KeyUsage", "ENCRYPT/DECRYPT"),
        ("KeyState", "Enabled"),
        ("ProtectionLevel", "SOFTWARE"),
        ("Origin", "Aliyun_KMS"),
        ("Description", "app data key"),
        ("DKMSInstanceId", inst.as_str()),
        ("Creator", CHINA_ACCOUNT),
        ("DeletionProtection", "Disabled"),
        ("AutomaticRotation", "Disabled"),
    ] {
        assert_eq!(m[field], value, "{field} in {m}");
    }
    assert_eq!(
        text(&m["Arn"]),
        format!("acs:kms:{REGION}:{CHINA_ACCOUNT}:key/{id}")
    );
    assert_eq!(text(&m["PrimaryKeyVersion"]).len(), 36, "a UUID: {m}");
    assert!(m.get("DeleteDate").is_none(), "{m}");
    assert!(m["CreationDate"].as_str().unwrap().ends_with('Z'));

    let r = mock.kms("DescribeKey", &[("KeyId", &id)]).await;
    assert_ok(&r);
    assert_eq!(r.body["KeyMetadata"], m);

    // EC_P256 signs by default; its protection level follows the instance too.
    let ec = mock.create_key(&inst, &[("KeySpec", "EC_P256")]).await;
    assert_eq!(
        (ec["KeySpec"].clone(), ec["KeyUsage"].clone()),
        (json!("EC_P256"), json!("SIGN/VERIFY"))
    );
    assert_eq!(ec["ProtectionLevel"], "SOFTWARE");
    // With ProtectionLevel=HSM asked of a software instance, the instance still decides.
    let k = mock.create_key(&inst, &[("ProtectionLevel", "HSM")]).await;
    assert_eq!(k["ProtectionLevel"], "SOFTWARE");
}

#[tokio::test]
async fn create_key_refuses_bad_specs_usages_and_rotation() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let r = mock.kms("CreateKey", &[]).await;
    assert_error(&r, 400, "MissingParameter", &["DKMSInstanceId"]);
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str, &'a str);
    let cases: [Case; 7] = [
        (&[("KeySpec", "AES")], 400, "InvalidParameter", "KeySpec"),
        (
            &[("KeySpec", "RSA_2048")],
            400,
            "Rejected.UnsupportedOperation",
            "RSA_2048",
        ),
        (
            &[("KeySpec", "EC_P256"), ("KeyUsage", "ENCRYPT/DECRYPT")],
            400,
            "InvalidParameter",
            "KeyUsage",
        ),
        (
            &[("KeyUsage", "SIGN/VERIFY")],
            400,
            "InvalidParameter",
            "KeyUsage",
        ),
        (
            &[("EnableAutomaticRotation", "true")],
            400,
            "MissingParameter",
            "RotationInterval",
        ),
        (
            &[
                ("EnableAutomaticRotation", "True"),
                ("RotationInterval", "3d"),
            ],
            400,
            "InvalidParameter",
            "RotationInterval",
        ),
        (
            &[
                ("KeySpec", "EC_P256"),
                ("EnableAutomaticRotation", "true"),
                ("RotationInterval", "7d"),
            ],
            400,
            "Rejected.UnsupportedOperation",
            "EnableAutomaticRotation",
        ),
    ];
    for (extra, status, code, mentions) in cases {
        let mut params = vec![("DKMSInstanceId", inst.as_str())];
        params.extend_from_slice(extra);
        let r = mock.kms("CreateKey", &params).await;
        assert_error(&r, status, code, &[mentions]);
    }
    let r = mock
        .kms("CreateKey", &[("DKMSInstanceId", "kst-hzznothere")])
        .await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceNotFound",
        &["kst-hzznothere"],
    );
    // Another account's instance is not found either.
    let r = mock
        .intl()
        .kms("CreateKey", &[("DKMSInstanceId", &inst)])
        .await
        .unwrap();
    assert_error(&r, 403, "Forbidden.DKMSInstanceNotFound", &[&inst]);
}

#[tokio::test]
async fn rotation_policy_and_description_are_reported_and_updated() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let m = mock
        .create_key(
            &inst,
            &[
                ("EnableAutomaticRotation", "true"),
                ("RotationInterval", "7d"),
            ],
        )
        .await;
    assert_eq!(m["AutomaticRotation"], "Enabled");
    assert_eq!(m["RotationInterval"], "604800s");
    assert!(m["NextRotationDate"].as_str().unwrap() > m["CreationDate"].as_str().unwrap());
    let id = text(&m["KeyId"]);

    let r = mock
        .kms(
            "UpdateRotationPolicy",
            &[
                ("KeyId", &id),
                ("EnableAutomaticRotation", "true"),
                ("RotationInterval", "2592000s"),
            ],
        )
        .await;
    assert_ok(&r);
    let r = mock
        .kms(
            "UpdateKeyDescription",
            &[("KeyId", &id), ("Description", "renamed")],
        )
        .await;
    assert_ok(&r);
    let m = describe(&mock, &id).await;
    assert_eq!(
        (m["RotationInterval"].clone(), m["Description"].clone()),
        (json!("2592000s"), json!("renamed"))
    );
    let r = mock
        .kms(
            "UpdateRotationPolicy",
            &[("KeyId", &id), ("EnableAutomaticRotation", "false")],
        )
        .await;
    assert_ok(&r);
    let m = describe(&mock, &id).await;
    assert_eq!(m["AutomaticRotation"], "Disabled");
    assert!(m.get("RotationInterval").is_none(), "{m}");
    let r = mock
        .kms(
            "UpdateRotationPolicy",
            &[("KeyId", &id), ("EnableAutomaticRotation", "maybe")],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["EnableAutomaticRotation"]);
}

async fn describe(mock: &Mock, key: &str) -> Value {
    let r = mock.kms("DescribeKey", &[("KeyId", key)]).await;
    assert_ok(&r);
    r.body["KeyMetadata"].clone()
}

fn key_ids(body: &Value) -> Vec<String> {
    body["Keys"]["Key"]
        .as_array()
        .unwrap_or_else(|| panic!("Keys.Key is not a list: {body}"))
        .iter()
        .map(|k| text(&k["KeyId"]))
        .collect()
}

#[tokio::test]
async fn list_keys_filters_and_pages() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let a = mock.aes_key(&inst).await;
    let (e, _) = mock.ec_key(&inst).await;
    let b = mock.aes_key(&inst).await;
    assert_ok(&mock.kms("DisableKey", &[("KeyId", &b)]).await);

    let r = mock.kms("ListKeys", &[]).await;
    assert_ok(&r);
    assert_eq!(r.body["TotalCount"], 3);
    assert_eq!(r.body["PageSize"], 10);
    assert_eq!(key_ids(&r.body), [a.clone(), e.clone(), b.clone()]);
    assert!(r.body["Keys"]["Key"][0]["KeyArn"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":key/{a}")));

    let filter = |f: Value| f.to_string();
    let r = mock
        .kms(
            "ListKeys",
            &[(
                "Filters",
                &filter(json!([{"Key": "KeySpec", "Values": ["Aliyun_AES_256"]},
                               {"Key": "KeyState", "Values": ["Enabled", "PendingDeletion"]}])),
            )],
        )
        .await;
    assert_eq!(key_ids(&r.body), std::slice::from_ref(&a));
    let r = mock
        .kms(
            "ListKeys",
            &[(
                "Filters",
                &filter(json!([{"Key": "KeyUsage", "Values": ["SIGN/VERIFY"]},
                               {"Key": "DKMSInstanceId", "Values": [inst]}])),
            )],
        )
        .await;
    assert_eq!(key_ids(&r.body), std::slice::from_ref(&e));
    let r = mock
        .kms("ListKeys", &[("PageNumber", "2"), ("PageSize", "2")])
        .await;
    assert_eq!(
        (r.body["TotalCount"].clone(), key_ids(&r.body)),
        (json!(3), vec![b])
    );
    let r = mock
        .kms(
            "ListKeys",
            &[(
                "Filters",
                &filter(json!([{"Key": "Color", "Values": ["red"]}])),
            )],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["Filters", "Color"]);
    let r = mock.kms("ListKeys", &[("PageSize", "101")]).await;
    assert_error(&r, 400, "InvalidParameter", &["PageSize"]);
    // Another account sees none of them.
    let r = mock.intl().kms("ListKeys", &[]).await.unwrap();
    assert_eq!(r.body["TotalCount"], 0, "{}", r.body);
}

#[tokio::test]
async fn disabled_and_pending_deletion_keys_refuse_cryptography_with_the_real_codes() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let key = mock.aes_key(&inst).await;
    let blob = mock.encrypt(&key, "hello", None).await;

    assert_ok(&mock.kms("DisableKey", &[("KeyId", &key)]).await);
    assert_eq!(describe(&mock, &key).await["KeyState"], "Disabled");
    for (action, params) in crypto_calls(&key, &blob) {
        let r = mock.kms(action, &params).await;
        assert_error(&r, 409, "Rejected.Disabled", &[&key]);
    }
    assert_ok(&mock.kms("EnableKey", &[("KeyId", &key)]).await);
    assert_ok(&mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await);

    let r = mock
        .kms(
            "ScheduleKeyDeletion",
            &[("KeyId", &key), ("PendingWindowInDays", "6")],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["PendingWindowInDays"]);
    let r = mock.kms("ScheduleKeyDeletion", &[("KeyId", &key)]).await;
    assert_error(&r, 400, "MissingParameter", &["PendingWindowInDays"]);
    let r = mock
        .kms(
            "ScheduleKeyDeletion",
            &[("KeyId", &key), ("PendingWindowInDays", "7")],
        )
        .await;
    assert_ok(&r);
    let m = describe(&mock, &key).await;
    assert_eq!(m["KeyState"], "PendingDeletion");
    assert!(m["DeleteDate"].as_str().is_some(), "{m}");
    for (action, params) in crypto_calls(&key, &blob) {
        let r = mock.kms(action, &params).await;
        assert_error(&r, 409, "Rejected.PendingDeletion", &[&key]);
    }
    for action in ["EnableKey", "DisableKey"] {
        let r = mock.kms(action, &[("KeyId", &key)]).await;
        assert_error(&r, 409, "Rejected.PendingDeletion", &[&key]);
    }
    assert_ok(&mock.kms("CancelKeyDeletion", &[("KeyId", &key)]).await);
    let m = describe(&mock, &key).await;
    assert_eq!(m["KeyState"], "Enabled");
    assert!(m.get("DeleteDate").is_none(), "{m}");
    let r = mock.kms("CancelKeyDeletion", &[("KeyId", &key)]).await;
    assert_error(&r, 409, "Rejected.StateModifiedFailed", &[&key]);

    // Past the window the key is gone.
    assert_ok(
        &mock
            .kms(
                "ScheduleKeyDeletion",
                &[("KeyId", &key), ("PendingWindowInDays", "7")],
            )
            .await,
    );
    mock.advance(7 * DAY_MINUTES).await;
    let r = mock.kms("DescribeKey", &[("KeyId", &key)]).await;
    assert_error(&r, 404, "Forbidden.KeyNotFound", &[&key]);
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await;
    assert_error(&r, 404, "Forbidden.KeyNotFound", &[]);
}

fn crypto_calls<'a>(
    key: &'a str,
    blob: &'a str,
) -> Vec<(&'static str, Vec<(&'static str, &'a str)>)> {
    vec![
        ("Encrypt", vec![("KeyId", key), ("Plaintext", "x")]),
        ("Decrypt", vec![("CiphertextBlob", blob)]),
        ("GenerateDataKey", vec![("KeyId", key)]),
        ("GenerateDataKeyWithoutPlaintext", vec![("KeyId", key)]),
    ]
}

#[tokio::test]
async fn a_key_refuses_operations_its_usage_does_not_have() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let aes = mock.aes_key(&inst).await;
    let (ec, ec_version) = mock.ec_key(&inst).await;
    let aes_version = text(&describe(&mock, &aes).await["PrimaryKeyVersion"]);
    let digest = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    for (action, params) in [
        ("Encrypt", vec![("KeyId", ec.as_str()), ("Plaintext", "x")]),
        ("GenerateDataKey", vec![("KeyId", ec.as_str())]),
        ("CreateKeyVersion", vec![("KeyId", ec.as_str())]),
        (
            "AsymmetricSign",
            vec![
                ("KeyId", aes.as_str()),
                ("KeyVersionId", aes_version.as_str()),
                ("Algorithm", "ECDSA_SHA_256"),
                ("Digest", digest),
            ],
        ),
        (
            "GetPublicKey",
            vec![
                ("KeyId", aes.as_str()),
                ("KeyVersionId", aes_version.as_str()),
            ],
        ),
    ] {
        let r = mock.kms(action, &params).await;
        assert_error(&r, 400, "Rejected.UnsupportedOperation", &[params[0].1]);
    }
    let r = mock
        .kms(
            "GetPublicKey",
            &[("KeyId", &ec), ("KeyVersionId", &ec_version)],
        )
        .await;
    assert_ok(&r);
}

#[tokio::test]
async fn new_versions_become_primary_and_old_ciphertext_still_decrypts() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let key = mock.aes_key(&inst).await;
    let v1 = text(&describe(&mock, &key).await["PrimaryKeyVersion"]);
    let old = mock.encrypt(&key, "written under v1", None).await;

    let r = mock.kms("CreateKeyVersion", &[("KeyId", &key)]).await;
    assert_ok(&r);
    let v2 = text(&r.body["KeyVersion"]["KeyVersionId"]);
    assert_eq!(r.body["KeyVersion"]["KeyId"], key.as_str());
    assert_ne!(v1, v2);
    assert_eq!(v2.len(), 36);
    let m = describe(&mock, &key).await;
    assert_eq!(m["PrimaryKeyVersion"], v2.as_str());
    assert_eq!(m["LastRotationDate"], r.body["KeyVersion"]["CreationDate"]);

    let r = mock
        .kms("Encrypt", &[("KeyId", &key), ("Plaintext", "under v2")])
        .await;
    assert_eq!(r.body["KeyVersionId"], v2.as_str());
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &old)]).await;
    assert_ok(&r);
    assert_eq!(
        (r.body["Plaintext"].clone(), r.body["KeyVersionId"].clone()),
        (json!("written under v1"), json!(v1))
    );

    let r = mock.kms("ListKeyVersions", &[("KeyId", &key)]).await;
    assert_ok(&r);
    assert_eq!(r.body["TotalCount"], 2);
    let listed: Vec<String> = r.body["KeyVersions"]["KeyVersion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| text(&v["KeyVersionId"]))
        .collect();
    assert_eq!(listed, [v1.clone(), v2.clone()]);
    let r = mock
        .kms(
            "DescribeKeyVersion",
            &[("KeyId", &key), ("KeyVersionId", &v1)],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["KeyVersion"]["KeyVersionId"], v1.as_str());
    let r = mock
        .kms(
            "DescribeKeyVersion",
            &[("KeyId", &key), ("KeyVersionId", "no-such-version")],
        )
        .await;
    assert_error(&r, 404, "Forbidden.KeyNotFound", &["no-such-version"]);
}

#[tokio::test]
async fn key_id_accepts_aliases_and_arns_everywhere() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let key = mock.aes_key(&inst).await;
    let other = mock.aes_key(&inst).await;
    let r = mock
        .kms(
            "CreateAlias",
            &[("AliasName", "alias/app"), ("KeyId", &key)],
        )
        .await;
    assert_ok(&r);
    let key_arn = format!("acs:kms:{REGION}:{CHINA_ACCOUNT}:key/{key}");
    let alias_arn = format!("acs:kms:{REGION}:{CHINA_ACCOUNT}:alias/app");
    for name in ["alias/app", key_arn.as_str(), alias_arn.as_str()] {
        assert_eq!(describe(&mock, name).await["KeyId"], key.as_str(), "{name}");
        let r = mock
            .kms("Encrypt", &[("KeyId", name), ("Plaintext", "hi")])
            .await;
        assert_ok(&r);
        assert_eq!(r.body["KeyId"], key.as_str());
    }
    let r = mock
        .kms(
            "CreateAlias",
            &[("AliasName", "alias/app"), ("KeyId", &other)],
        )
        .await;
    assert_error(&r, 400, "AliasAlreadyExists", &["alias/app"]);
    let r = mock
        .kms("CreateAlias", &[("AliasName", "app"), ("KeyId", &other)])
        .await;
    assert_error(&r, 400, "InvalidParameter", &["AliasName"]);
    let r = mock
        .kms(
            "CreateAlias",
            &[("AliasName", "alias/x"), ("KeyId", "key-nothere")],
        )
        .await;
    assert_error(&r, 404, "Forbidden.KeyNotFound", &["key-nothere"]);

    let r = mock.kms("ListAliases", &[]).await;
    assert_ok(&r);
    assert_eq!(r.body["TotalCount"], 1);
    let a = &r.body["Aliases"]["Alias"][0];
    assert_eq!(
        (
            a["AliasName"].clone(),
            a["KeyId"].clone(),
            a["AliasArn"].clone()
        ),
        (json!("alias/app"), json!(key), json!(alias_arn))
    );
    let r = mock
        .kms(
            "UpdateAlias",
            &[("AliasName", "alias/app"), ("KeyId", &other)],
        )
        .await;
    assert_ok(&r);
    assert_eq!(describe(&mock, "alias/app").await["KeyId"], other.as_str());

    assert_ok(&mock.kms("DeleteAlias", &[("AliasName", "alias/app")]).await);
    let r = mock
        .kms("Encrypt", &[("KeyId", "alias/app"), ("Plaintext", "hi")])
        .await;
    assert_error(&r, 404, "Forbidden.AliasNotFound", &["alias/app"]);
    let r = mock.kms("DeleteAlias", &[("AliasName", "alias/app")]).await;
    assert_error(&r, 404, "Forbidden.AliasNotFound", &["alias/app"]);

    // Another account's ARN, or the key id from another account: not found.
    let foreign = format!("acs:kms:{REGION}:5555555555555555:key/{key}");
    let r = mock
        .kms("Encrypt", &[("KeyId", &foreign), ("Plaintext", "hi")])
        .await;
    assert_error(&r, 404, "Forbidden.KeyNotFound", &[&foreign]);
    let r = mock
        .intl()
        .kms("Encrypt", &[("KeyId", &key), ("Plaintext", "hi")])
        .await
        .unwrap();
    assert_error(&r, 404, "Forbidden.KeyNotFound", &[&key]);
}

fn quota(body: &Value) -> (Value, Value, Value) {
    let infos = body["KmsInstanceQuotaInfos"]
        .as_array()
        .unwrap_or_else(|| panic!("KmsInstanceQuotaInfos is not a plain list: {body}"));
    assert_eq!(infos.len(), 1, "{body}");
    (
        infos[0]["ResourceType"].clone(),
        infos[0]["ResourceQuota"].clone(),
        infos[0]["UsedQuantity"].clone(),
    )
}

#[tokio::test]
async fn key_versions_count_against_the_key_quota_exactly_and_an_upgrade_raises_it() {
    let mock = Mock::start().await;
    let inst = mock
        .connected(&Order::software(REGION).set("KeyNum", "100"))
        .await;
    let key = mock.aes_key(&inst).await;
    // One key with 100 versions uses the whole quota of 100 (S04).
    for _ in 0..99 {
        assert_ok(&mock.kms("CreateKeyVersion", &[("KeyId", &key)]).await);
    }
    let r = mock
        .kms(
            "GetKmsInstanceQuotaInfos",
            &[("KmsInstanceId", &inst), ("ResourceType", "key")],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["KmsInstanceId"], inst.as_str());
    assert_eq!(quota(&r.body), (json!("key"), json!(100), json!(100)));
    let r = mock.kms("CreateKeyVersion", &[("KeyId", &key)]).await;
    assert_error(&r, 400, "Rejected.LimitExceeded", &["KeyNum", "100", &inst]);
    let r = mock.kms("CreateKey", &[("DKMSInstanceId", &inst)]).await;
    assert_error(&r, 400, "Rejected.LimitExceeded", &["KeyNum"]);

    mock.upgrade(&inst, "KeyNum", "200").await;
    assert_ok(&mock.kms("CreateKeyVersion", &[("KeyId", &key)]).await);
    mock.aes_key(&inst).await;
    let r = mock
        .kms(
            "GetKmsInstanceQuotaInfos",
            &[("KmsInstanceId", &inst), ("ResourceType", "key")],
        )
        .await;
    assert_eq!(quota(&r.body), (json!("key"), json!(200), json!(102)));

    // All quotas at once, and the access management quota in use (the own VPC).
    let r = mock
        .kms("GetKmsInstanceQuotaInfos", &[("KmsInstanceId", &inst)])
        .await;
    assert_ok(&r);
    let kinds: Vec<String> = r.body["KmsInstanceQuotaInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| text(&q["ResourceType"]))
        .collect();
    assert_eq!(kinds, ["key", "secret", "vpc", "qps"]);
    assert_eq!(r.body["KmsInstanceQuotaInfos"][2]["UsedQuantity"], 1);
    assert_eq!(r.body["KmsInstanceQuotaInfos"][3]["ResourceQuota"], 1000);
    let r = mock
        .kms(
            "GetKmsInstanceQuotaInfos",
            &[("KmsInstanceId", &inst), ("ResourceType", "disk")],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["ResourceType"]);
}

#[tokio::test]
async fn only_a_connected_unexpired_unreleased_instance_serves_keys() {
    let mock = Mock::start().await;
    // Uninitialized.
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let r = mock.kms("CreateKey", &[("DKMSInstanceId", &id)]).await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceStateInvalid",
        &[&id, "Uninitialized"],
    );
    // Connecting.
    assert_ok(&mock.connect(&id, ZONE_H, VSW_H).await);
    let r = mock.kms("CreateKey", &[("DKMSInstanceId", &id)]).await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceStateInvalid",
        &[&id, "Connecting"],
    );
    mock.advance(30).await;
    let key = mock.aes_key(&id).await;
    let blob = mock.encrypt(&key, "before expiry", None).await;

    // Expired (no auto-renewal): the key is there but the instance serves nothing.
    mock.advance(MONTH_MINUTES).await;
    for (action, params) in [
        ("Encrypt", vec![("KeyId", key.as_str()), ("Plaintext", "x")]),
        ("Decrypt", vec![("CiphertextBlob", blob.as_str())]),
        ("DescribeKey", vec![("KeyId", key.as_str())]),
        ("CreateKey", vec![("DKMSInstanceId", id.as_str())]),
    ] {
        let r = mock.kms(action, &params).await;
        assert_error(
            &r,
            403,
            "Forbidden.DKMSInstanceStateInvalid",
            &[&id, "Expired"],
        );
    }
    // Renewed by hand, it serves again; released, its keys are gone with it.
    let r = mock
        .bss(
            "SetRenewal",
            &[
                ("ProductCode", "kms"),
                ("InstanceIDs", &id),
                ("RenewalStatus", "AutoRenewal"),
            ],
        )
        .await;
    assert_ok(&r);
    assert_ok(&mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await);
    let r = mock
        .bss(
            "RefundInstance",
            &[("ProductCode", "kms"), ("InstanceId", &id)],
        )
        .await;
    assert_ok(&r);
    let r = mock
        .kms("Encrypt", &[("KeyId", &key), ("Plaintext", "x")])
        .await;
    assert_error(&r, 403, "Forbidden.DKMSInstanceNotFound", &[&id]);
    let r = mock.kms("ListKeys", &[]).await;
    assert_eq!(r.body["TotalCount"], 0, "{}", r.body);
}

#[tokio::test]
async fn deletion_protection_of_a_key_blocks_scheduling_its_deletion() {
    let mock = Mock::start().await;
    let inst = mock.connected(&Order::software(REGION)).await;
    let key = mock.aes_key(&inst).await;
    let arn = format!("acs:kms:{REGION}:{CHINA_ACCOUNT}:key/{key}");
    let r = mock
        .kms(
            "SetDeletionProtection",
            &[
                ("ProtectedResourceArn", &arn),
                ("EnableDeletionProtection", "true"),
                ("DeletionProtectionDescription", "prod"),
            ],
        )
        .await;
    assert_ok(&r);
    let m = describe(&mock, &key).await;
    assert_eq!(
        (
            m["DeletionProtection"].clone(),
            m["DeletionProtectionDescription"].clone()
        ),
        (json!("Enabled"), json!("prod"))
    );
    let r = mock
        .kms(
            "ScheduleKeyDeletion",
            &[("KeyId", &key), ("PendingWindowInDays", "7")],
        )
        .await;
    assert_error(&r, 403, "Forbidden.DeletionProtection", &[&key]);
    let r = mock
        .kms(
            "SetDeletionProtection",
            &[("KeyId", &key), ("EnableDeletionProtection", "false")],
        )
        .await;
    assert_ok(&r);
    assert_eq!(
        describe(&mock, &key).await["DeletionProtection"],
        "Disabled"
    );
    let r = mock
        .kms(
            "ScheduleKeyDeletion",
            &[("KeyId", &key), ("PendingWindowInDays", "7")],
        )
        .await;
    assert_ok(&r);
}
