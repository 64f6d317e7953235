//! What the data directory keeps (and does not keep) and who sees what.

use std::path::Path;

use crate::harness::{
    assert_error, assert_ok, available_ids, client_for, config, listed_ids, Mock, Order,
    DEFAULT_SECRET, INTL_SECRET, REGION, VSW_H, VSW_J, ZONE_H, ZONE_J,
};

#[tokio::test]
async fn state_survives_a_restart_on_the_same_data_dir() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    assert_ok(
        &mock
            .connect(
                &id,
                &format!("{ZONE_H},{ZONE_J}"),
                &format!("{VSW_H},{VSW_J}"),
            )
            .await,
    );
    mock.advance(30).await;
    let before = mock.instance(&id).await;
    assert_eq!(before["Status"], "Connected");
    let ca_before = mock.server.ca_pem.clone();
    let ca_file = mock.server.ca_file.clone().expect("TLS CA file");
    let ca_file_before = std::fs::read_to_string(&ca_file).unwrap();

    let Mock {
        server,
        client: old_client,
        dir,
    } = mock;
    // The old client keeps its idle keep-alive connection: shutdown must end it all the same.
    server.shutdown().await;
    assert!(
        old_client.kms("ListKmsInstances", &[]).await.is_err(),
        "the old server still answers after shutdown"
    );

    let server = mockcloud::start(config(&dir, None))
        .await
        .expect("restart on the same data directory");
    assert_eq!(
        server.ca_pem, ca_before,
        "the CA is generated once per data dir"
    );
    assert_eq!(std::fs::read_to_string(&ca_file).unwrap(), ca_file_before);
    let client = client_for(&server);
    let r = client
        .kms("GetKmsInstance", &[("KmsInstanceId", &id)])
        .await
        .unwrap();
    assert_ok(&r);
    let after = &r.body["KmsInstance"];
    assert_eq!(after["Status"], "Connected");
    for field in [
        "ZoneIds",
        "VswitchIds",
        "VpcId",
        "Spec",
        "CreateTime",
        "EndDate",
    ] {
        assert_eq!(
            after[field], before[field],
            "{field} changed over a restart"
        );
    }
    let r = client
        .bss("QueryAvailableInstances", &[("ProductCode", "kms")])
        .await
        .unwrap();
    assert_eq!(available_ids(&r.body["Data"]), [id]);
    server.shutdown().await;
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const SECRET_VALUE: &str = "s3cr3t-value-that-must-stay-sealed";

#[tokio::test]
async fn data_dir_holds_no_plaintext_access_key_secret_secret_value_or_key_material() {
    let mock = Mock::start().await;
    // Some traffic, so the store has written more than the seed: keys of both kinds, a secret
    // with two versions, cryptography.
    let inst = mock
        .connected(&Order::software(REGION).set("SecretNum", "1"))
        .await;
    let key = mock.aes_key(&inst).await;
    let (ec, ec_version) = mock.ec_key(&inst).await;
    mock.encrypt(&key, "hello", None).await;
    let r = mock
        .kms(
            "CreateSecret",
            &[
                ("SecretName", "at-rest"),
                ("VersionId", "v1"),
                ("SecretData", SECRET_VALUE),
                ("EncryptionKeyId", &key),
            ],
        )
        .await;
    assert_ok(&r);
    let second = format!("{SECRET_VALUE}-v2");
    let r = mock
        .kms(
            "PutSecretValue",
            &[
                ("SecretName", "at-rest"),
                ("VersionId", "v2"),
                ("SecretData", &second),
            ],
        )
        .await;
    assert_ok(&r);
    let r = mock
        .kms(
            "GetPublicKey",
            &[("KeyId", &ec), ("KeyVersionId", &ec_version)],
        )
        .await;
    assert_ok(&r);
    assert_ok(&mock.intl().kms("ListKmsInstances", &[]).await.unwrap());

    let Mock { server, dir, .. } = mock;
    server.shutdown().await;

    // The raw key material, as the store holds it sealed: opened here with the data
    // directory's master key, so the walk below can look for it.
    let raw_material: Vec<Vec<u8>> = {
        let store = mockcloud::store::Store::open(dir.path()).unwrap();
        let sealer = mockcloud::crypto::Sealer::open_or_create(dir.path()).unwrap();
        let versions: Vec<serde_json::Value> = store.list("key_version").unwrap();
        assert_eq!(versions.len(), 2, "one version per key");
        versions
            .iter()
            .map(|v| {
                let sealed = v["sealed_material"].as_str().expect("sealed_material");
                let raw = sealer.open(sealed).expect("material opens with master.key");
                assert_eq!(raw.len(), 32);
                raw
            })
            .collect()
    };
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        (
            "access key secret".into(),
            DEFAULT_SECRET.as_bytes().to_vec(),
        ),
        ("access key secret".into(), INTL_SECRET.as_bytes().to_vec()),
        ("secret value".into(), SECRET_VALUE.as_bytes().to_vec()),
    ];
    for raw in &raw_material {
        use base64::Engine;
        needles.push(("raw key material".into(), raw.clone()));
        needles.push(("key material in hex".into(), hex::encode(raw).into_bytes()));
        needles.push((
            "key material in base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(raw)
                .into_bytes(),
        ));
    }

    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    assert!(!files.is_empty());
    let mut seen_key_id = false;
    let mut seen_secret_name = false;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for (what, needle) in &needles {
            assert!(
                !contains(&bytes, needle),
                "{} holds the {what} in plain text",
                f.display()
            );
        }
        seen_key_id |= contains(&bytes, b"mock-access-key-id");
        seen_secret_name |= contains(&bytes, b"at-rest");
    }
    // The walk did read the store: ids and names are stored in the clear.
    assert!(
        seen_key_id && seen_secret_name,
        "no file holds the access key id or the secret name; files: {files:?}"
    );
}

#[tokio::test]
async fn keys_secrets_and_old_ciphertext_survive_a_restart() {
    let mock = Mock::start().await;
    let inst = mock
        .connected(&Order::software(REGION).set("SecretNum", "1"))
        .await;
    let key = mock.aes_key(&inst).await;
    let blob = mock
        .encrypt(&key, "before restart", Some(r#"{"k":"v"}"#))
        .await;
    assert_ok(&mock.kms("CreateKeyVersion", &[("KeyId", &key)]).await);
    let (ec, ec_version) = mock.ec_key(&inst).await;
    let pem_before = mock
        .kms(
            "GetPublicKey",
            &[("KeyId", &ec), ("KeyVersionId", &ec_version)],
        )
        .await
        .body["PublicKey"]
        .clone();
    assert_ok(
        &mock
            .kms(
                "CreateAlias",
                &[("AliasName", "alias/kept"), ("KeyId", &key)],
            )
            .await,
    );
    let r = mock
        .kms(
            "CreateSecret",
            &[
                ("SecretName", "kept"),
                ("VersionId", "v1"),
                ("SecretData", "still here"),
                ("EncryptionKeyId", &key),
            ],
        )
        .await;
    assert_ok(&r);

    let Mock { server, dir, .. } = mock;
    server.shutdown().await;
    let server = mockcloud::start(config(&dir, None)).await.unwrap();
    let client = client_for(&server);

    let r = client
        .kms(
            "Decrypt",
            &[
                ("CiphertextBlob", &blob),
                ("EncryptionContext", r#"{"k":"v"}"#),
            ],
        )
        .await
        .unwrap();
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], "before restart");
    let r = client
        .kms(
            "Encrypt",
            &[("KeyId", "alias/kept"), ("Plaintext", "after")],
        )
        .await
        .unwrap();
    assert_ok(&r);
    let r = client
        .kms(
            "GetPublicKey",
            &[("KeyId", &ec), ("KeyVersionId", &ec_version)],
        )
        .await
        .unwrap();
    assert_eq!(r.body["PublicKey"], pem_before);
    let r = client
        .kms("GetSecretValue", &[("SecretName", "kept")])
        .await
        .unwrap();
    assert_ok(&r);
    assert_eq!(r.body["SecretData"], "still here");
    let r = client
        .kms("ListKeyVersions", &[("KeyId", &key)])
        .await
        .unwrap();
    assert_eq!(r.body["TotalCount"], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn other_account_cannot_see_or_touch_the_instance() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let intl = mock.intl();

    let r = intl
        .kms("GetKmsInstance", &[("KmsInstanceId", &id)])
        .await
        .unwrap();
    assert_error(&r, 403, "Forbidden.DKMSInstanceNotFound", &[&id]);
    let listed = mock.list(&intl, &[]).await;
    assert_eq!(listed["TotalCount"], 0, "{listed}");
    assert!(listed_ids(&listed).is_empty());
    assert!(available_ids(&mock.available(&intl).await).is_empty());

    let r = intl
        .kms(
            "ConnectKmsInstance",
            &[
                ("KmsInstanceId", &id),
                ("VpcId", "vpc-intl-cn-hangzhou"),
                ("ZoneIds", ZONE_H),
                ("VSwitchIds", "vsw-intl-cn-hangzhou-h"),
            ],
        )
        .await
        .unwrap();
    assert_error(&r, 403, "Forbidden.DKMSInstanceNotFound", &[&id]);
    let r = intl
        .bss(
            "RefundInstance",
            &[("ProductCode", "kms"), ("InstanceId", &id)],
        )
        .await
        .unwrap();
    assert_error(&r, 400, "ResourceNotExists", &[&id]);

    // The owner still has it, untouched.
    assert_eq!(mock.status(&id).await, "Uninitialized");
}
