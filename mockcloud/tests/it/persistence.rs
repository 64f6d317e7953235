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

#[tokio::test]
async fn data_dir_holds_no_plaintext_access_key_secret() {
    let mock = Mock::start().await;
    // Some traffic, so the store has written more than the seed.
    mock.buy_visible(&Order::software(REGION)).await;
    assert_ok(&mock.intl().kms("ListKmsInstances", &[]).await.unwrap());

    let mut files = Vec::new();
    files_under(mock.dir.path(), &mut files);
    assert!(!files.is_empty());
    let mut seen_key_id = false;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for secret in [DEFAULT_SECRET, INTL_SECRET] {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{} holds the access key secret {secret:?} in plain text",
                f.display()
            );
        }
        seen_key_id |= contains(&bytes, b"mock-access-key-id");
    }
    // The walk did read the store: the access key *id* is stored in the clear.
    assert!(
        seen_key_id,
        "no file holds the access key id; files: {files:?}"
    );
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
