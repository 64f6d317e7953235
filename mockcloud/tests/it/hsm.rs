//! Hardware instances and HSM clusters (S30-S35): ConnectKmsInstance with `KMProvider=HSM`,
//! certificates checked for real, refusals that change nothing, timing, sync health, the admin
//! API and the `hsm-certs` command, and secrets sealed at rest.

use std::path::{Path, PathBuf};

use mockcloud::testing::{Client, Reply};
use serde_json::{json, Value};

use crate::harness::*;

const AUTO: &str = "hsm-hangzhou-auto";
const MANUAL: &str = "hsm-hangzhou-manual";
const INTL: &str = "hsm-singapore-intl";
const SGP: &str = "ap-southeast-1";
const OPERATOR_PASSWORD: &str = "Kmsuser#2026";
const VSW_K: &str = "vsw-china-cn-hangzhou-k";

fn hardware(region: &str) -> Order {
    Order::software(region).set("ProductVersion", "1")
}

/// A client certificate set from the admin API, `[client_p12_base64, password, CA PEM]`.
async fn certificates(mock: &Mock, cluster: &str, password: Option<&str>) -> [String; 3] {
    let body = match password {
        Some(p) => json!({ "password": p }),
        None => json!({}),
    };
    let (status, set) = mock
        .client
        .admin_post_json(
            &format!("/_mock/hsm-clusters/{cluster}/certificates"),
            &body,
        )
        .await
        .expect("admin call");
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        set["security_domain_ca_pem"], set["cluster_owner_certificate_pem"],
        "both are the cluster CA"
    );
    [
        text(&set["client_p12_base64"]),
        text(&set["password"]),
        text(&set["security_domain_ca_pem"]),
    ]
}

async fn connect_hsm(client: &Client, id: &str, cluster: &str, extra: &[(&str, &str)]) -> Reply {
    let mut params = vec![
        ("KmsInstanceId", id),
        ("KMProvider", "HSM"),
        ("HsmClusterId", cluster),
    ];
    params.extend_from_slice(extra);
    client
        .kms("ConnectKmsInstance", &params)
        .await
        .expect("KMS call")
}

fn mainland_manual<'a>(p12: &'a str, password: &'a str, ca: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("ClientCertificate", p12),
        ("ClientCertificatePassword", password),
        ("SecurityDomainCertificate", ca),
    ]
}

async fn free_ips(client: &Client, region: &str) -> Value {
    let r = client
        .call(
            mockcloud::api::VPC_VERSION,
            "DescribeVSwitches",
            &[("RegionId", region), ("PageSize", "50")],
        )
        .await
        .unwrap();
    assert_ok(&r);
    let mut out = serde_json::Map::new();
    for v in r.body["VSwitches"]["VSwitch"].as_array().expect("list") {
        out.insert(text(&v["VSwitchId"]), v["AvailableIpAddressCount"].clone());
    }
    Value::Object(out)
}

async fn instance_of(client: &Client, id: &str) -> Value {
    let r = client
        .kms("GetKmsInstance", &[("KmsInstanceId", id)])
        .await
        .unwrap();
    assert_ok(&r);
    r.body["KmsInstance"].clone()
}

/// Asserts the instance is exactly as before any enablement: Uninitialized, no network, no
/// cluster, and the vSwitches of the region have all their IPs.
#[track_caller]
fn assert_untouched(inst: &Value, ips_before: &Value, ips_now: &Value) {
    assert_eq!(inst["Status"], "Uninitialized", "{inst}");
    assert_eq!(inst["VpcId"], "", "{inst}");
    assert_eq!(inst["ZoneIds"], json!([]), "{inst}");
    assert_eq!(inst["VswitchIds"], json!([]), "{inst}");
    assert_eq!(inst["HsmClusterId"], "", "{inst}");
    assert_eq!(inst["HsmSyncStatus"], "", "{inst}");
    assert_eq!(ips_before, ips_now, "vSwitch IPs changed");
}

#[tokio::test]
async fn mainland_automatic_binding_uses_the_cluster_network_and_connects_in_ten_minutes() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&hardware(REGION)).await;
    let before = free_ips(&mock.client, REGION).await;
    assert_ok(&connect_hsm(&mock.client, &id, AUTO, &[]).await);
    let inst = mock.instance(&id).await;
    assert_eq!(inst["Status"], "Connecting");
    assert_eq!(inst["ProductVersion"], "1");
    assert_eq!(inst["VpcId"], VPC);
    assert_eq!(inst["ZoneIds"], json!([ZONE_H, ZONE_J]));
    assert_eq!(inst["VswitchIds"], json!([VSW_H, VSW_J]));
    assert_eq!(inst["HsmClusterId"], AUTO);
    assert_eq!(inst["HsmSyncStatus"], "Healthy");
    // S31: enablement takes 4 IPs from each vSwitch.
    let after = free_ips(&mock.client, REGION).await;
    assert_eq!(after[VSW_H], before[VSW_H].as_u64().unwrap() - 4);
    assert_eq!(after[VSW_J], before[VSW_J].as_u64().unwrap() - 4);
    assert_eq!(after[VSW_K], before[VSW_K]);
    // S35: no secret quota, about 10 minutes.
    mock.advance(9).await;
    assert_eq!(mock.status(&id).await, "Connecting");
    mock.advance(1).await;
    assert_eq!(mock.status(&id).await, "Connected");
}

#[tokio::test]
async fn with_a_secret_quota_enablement_takes_thirty_minutes() {
    let mock = Mock::start().await;
    let id = mock
        .buy_visible(&hardware(REGION).set("SecretNum", "100"))
        .await;
    assert_ok(&connect_hsm(&mock.client, &id, AUTO, &[]).await);
    mock.advance(29).await;
    assert_eq!(mock.status(&id).await, "Connecting");
    mock.advance(1).await;
    assert_eq!(mock.status(&id).await, "Connected");
}

#[tokio::test]
async fn mainland_manual_binding_with_generated_certificates() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&hardware(REGION)).await;
    let [p12, password, ca] = certificates(&mock, MANUAL, None).await;
    assert_eq!(password, "12345678", "the real tool's default");
    let vswitches = format!("{VSW_J},{VSW_H}");
    let mut params = mainland_manual(&p12, &password, &ca).to_vec();
    params.extend_from_slice(&[
        ("VpcId", VPC),
        ("ZoneIds", "cn-hangzhou-j,cn-hangzhou-h"),
        ("VSwitchIds", &vswitches),
    ]);
    let r = connect_hsm(&mock.client, &id, MANUAL, &params).await;
    assert_ok(&r);
    let inst = mock.instance(&id).await;
    assert_eq!(inst["ZoneIds"], json!([ZONE_J, ZONE_H]));
    assert_eq!(inst["HsmClusterId"], MANUAL);
    mock.advance(10).await;
    assert_eq!(mock.status(&id).await, "Connected");

    // A password of one's own works the same way, with the secrets in the form body.
    let other = mock.buy_visible(&hardware(REGION)).await;
    let added = add_cluster(&mock, "hsm-hangzhou-extra", "manual", "automatic").await;
    assert_eq!(added["hsms"], 2, "{added}");
    let [p12, password, ca] = certificates(&mock, "hsm-hangzhou-extra", Some("s3cret!")).await;
    assert_eq!(password, "s3cret!");
    let r = mock
        .client
        .call_with_form(
            mockcloud::api::KMS_VERSION,
            "ConnectKmsInstance",
            &[
                ("KmsInstanceId", &other),
                ("KMProvider", "HSM"),
                ("HsmClusterId", "hsm-hangzhou-extra"),
            ],
            &mainland_manual(&p12, &password, &ca),
        )
        .await
        .unwrap();
    assert_ok(&r);
    let inst = mock.instance(&other).await;
    assert_eq!(inst["VpcId"], "vpc-china-cn-hangzhou-b");
    assert_eq!(
        inst["VswitchIds"],
        json!(["vsw-china-cn-hangzhou-b-h", "vsw-china-cn-hangzhou-b-k"])
    );
    assert_eq!(inst["ZoneIds"], json!([ZONE_H, "cn-hangzhou-k"]));
}

/// `POST /_mock/hsm-clusters`: a mainland cluster of the China account in cn-hangzhou, on the
/// second VPC (vSwitches in zones H and K).
async fn add_cluster(mock: &Mock, id: &str, certificate_mode: &str, sync: &str) -> Value {
    let (status, body) = mock
        .client
        .admin_post_json(
            "/_mock/hsm-clusters",
            &json!({
                "id": id,
                "account": CHINA_ACCOUNT,
                "region": REGION,
                "mainland": true,
                "vendor": "Sansec",
                "vpc": "vpc-china-cn-hangzhou-b",
                "vswitches": ["vsw-china-cn-hangzhou-b-h", "vsw-china-cn-hangzhou-b-k"],
                "certificate_mode": certificate_mode,
                "sync": sync,
            }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(text(&body["ca_pem"]).contains("BEGIN CERTIFICATE"));
    body
}

#[tokio::test]
async fn admin_api_refuses_a_cluster_that_does_not_fit_the_world() {
    let mock = Mock::start().await;
    let bad = [
        json!({"id": "x", "account": CHINA_ACCOUNT, "region": REGION, "mainland": true,
               "vendor": "v", "vpc": VPC, "vswitches": ["vsw-china-cn-shanghai-e"],
               "certificate_mode": "manual", "sync": "manual"}),
        json!({"id": "x", "account": CHINA_ACCOUNT, "region": REGION, "mainland": false,
               "vendor": "v", "vpc": VPC, "vswitches": [VSW_H], "operator_password": "p",
               "certificate_mode": "manual", "sync": "manual"}),
        json!({"id": AUTO, "account": CHINA_ACCOUNT, "region": REGION, "mainland": true,
               "vendor": "v", "vpc": VPC, "vswitches": [VSW_H],
               "certificate_mode": "manual", "sync": "manual"}),
        json!({"id": "x", "certificate_mode": "sometimes"}),
    ];
    for body in bad {
        let (status, answer) = mock
            .client
            .admin_post_json("/_mock/hsm-clusters", &body)
            .await
            .unwrap();
        assert!(
            status == 400 || status == 409,
            "{body} -> {status} {answer}"
        );
    }
    let listed = mock.client.admin_get("/_mock/hsm-clusters").await.unwrap();
    let ids: Vec<&str> = listed["hsm_clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [AUTO, MANUAL, INTL]);
    let r = mock
        .client
        .admin_post_json("/_mock/hsm-clusters/nope/hsms", &json!({}))
        .await
        .unwrap();
    assert_eq!(r.0, 404, "{}", r.1);
}

#[tokio::test]
async fn mainland_manual_refusals_name_the_problem_and_change_nothing() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&hardware(REGION)).await;
    let before = free_ips(&mock.client, REGION).await;
    let [p12, password, ca] = certificates(&mock, MANUAL, None).await;
    // A matching set, but made for another cluster (a foreign CA).
    let [foreign_p12, _, foreign_ca] = certificates(&mock, AUTO, None).await;
    let junk_p12 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b"this is not a PKCS#12 file")
    };
    // All 400, each with its own code.
    let cases = [
        (
            mainland_manual(&p12, "87654321", &ca),
            "Rejected.HsmCertificatePasswordIncorrect",
            "ClientCertificatePassword",
        ),
        (
            mainland_manual(&foreign_p12, &password, &foreign_ca),
            "Rejected.HsmSecurityDomainMismatch",
            "SecurityDomainCertificate",
        ),
        (
            mainland_manual(&foreign_p12, &password, &ca),
            "Rejected.HsmCertificateNotIssuedByCa",
            "ClientCertificate",
        ),
        (
            mainland_manual(&junk_p12, &password, &ca),
            "InvalidParameter.ClientCertificate",
            "ClientCertificate",
        ),
        (
            mainland_manual("@@ not base64 @@", &password, &ca),
            "InvalidParameter.ClientCertificate",
            "ClientCertificate",
        ),
        (
            mainland_manual(&p12, &password, "-----BEGIN CERTIFICATE-----\nbroken\n"),
            "InvalidParameter.SecurityDomainCertificate",
            "SecurityDomainCertificate",
        ),
    ];
    for (params, code, names) in cases {
        let r = connect_hsm(&mock.client, &id, MANUAL, &params).await;
        assert_error(&r, 400, code, &[names]);
        let message = text(&r.body["Message"]);
        assert!(
            !message.contains(&password) && !message.contains("87654321"),
            "a password in {message:?}"
        );
        assert!(
            !message.contains("BEGIN"),
            "certificate content in {message:?}"
        );
        let inst = mock.instance(&id).await;
        assert_untouched(&inst, &before, &free_ips(&mock.client, REGION).await);
    }
    // Missing pieces are named; certificate input the cluster does not use is refused.
    let r = connect_hsm(
        &mock.client,
        &id,
        MANUAL,
        &[
            ("ClientCertificate", &p12),
            ("SecurityDomainCertificate", &ca),
        ],
    )
    .await;
    assert_error(&r, 400, "MissingParameter", &["ClientCertificatePassword"]);
    let r = connect_hsm(&mock.client, &id, AUTO, &[("ClientCertificate", &p12)]).await;
    assert_error(&r, 400, "InvalidParameter", &["ClientCertificate"]);
    let mut params = mainland_manual(&p12, &password, &ca).to_vec();
    params.push(("HsmUsername", "kmsuser"));
    let r = connect_hsm(&mock.client, &id, MANUAL, &params).await;
    assert_error(&r, 400, "InvalidParameter", &["HsmUsername"]);
    let inst = mock.instance(&id).await;
    assert_untouched(&inst, &before, &free_ips(&mock.client, REGION).await);
    // After all that, the right set still binds.
    assert_ok(
        &connect_hsm(
            &mock.client,
            &id,
            MANUAL,
            &mainland_manual(&p12, &password, &ca),
        )
        .await,
    );
}

async fn buy_intl(mock: &Mock) -> String {
    let order = hardware(SGP);
    let r = mock
        .intl()
        .bss("CreateInstance", &refs(&order.params()))
        .await
        .unwrap();
    assert_ok(&r);
    let id = text(&r.body["Data"]["InstanceId"]);
    mock.advance(5).await;
    id
}

#[tokio::test]
async fn international_manual_needs_kmsuser_its_password_and_the_owner_certificate() {
    let mock = Mock::start().await;
    let intl = mock.intl();
    let id = buy_intl(&mock).await;
    let before = free_ips(&intl, SGP).await;
    let [_, _, owner] = certificates(&mock, INTL, None).await;
    let [_, _, foreign] = certificates(&mock, MANUAL, None).await;
    let creds = |user: &'static str, pass: &'static str, cert: &str| {
        vec![
            ("HsmUsername".to_string(), user.to_string()),
            ("HsmPassword".to_string(), pass.to_string()),
            ("ClusterOwnerCertificate".to_string(), cert.to_string()),
        ]
    };
    let cases = [
        (
            creds("admin", OPERATOR_PASSWORD, &owner),
            "Rejected.HsmUsernameInvalid",
            "HsmUsername",
        ),
        (
            creds("kmsuser", "Kmsuser#2025", &owner),
            "Rejected.HsmPasswordIncorrect",
            "HsmPassword",
        ),
        (
            creds("kmsuser", OPERATOR_PASSWORD, &foreign),
            "Rejected.HsmSecurityDomainMismatch",
            "ClusterOwnerCertificate",
        ),
        (
            creds("kmsuser", OPERATOR_PASSWORD, "not pem"),
            "InvalidParameter.ClusterOwnerCertificate",
            "ClusterOwnerCertificate",
        ),
    ];
    for (params, code, names) in cases {
        let r = connect_hsm(&intl, &id, INTL, &refs(&params)).await;
        assert_error(&r, 400, code, &[names]);
        let message = text(&r.body["Message"]);
        assert!(!message.contains("Kmsuser#"), "a password in {message:?}");
        let inst = instance_of(&intl, &id).await;
        assert_untouched(&inst, &before, &free_ips(&intl, SGP).await);
    }
    // The cluster is the international account's: the China account cannot see it.
    let china = mock.buy_visible(&hardware(SGP)).await;
    let r = connect_hsm(&mock.client, &china, INTL, &[]).await;
    assert_error(&r, 404, "InvalidHsmClusterId.NotFound", &[INTL]);

    let r = connect_hsm(
        &intl,
        &id,
        INTL,
        &refs(&creds("kmsuser", OPERATOR_PASSWORD, &owner)),
    )
    .await;
    assert_ok(&r);
    let inst = instance_of(&intl, &id).await;
    assert_eq!(inst["VpcId"], "vpc-intl-ap-southeast-1");
    assert_eq!(
        inst["VswitchIds"],
        json!(["vsw-intl-ap-southeast-1a", "vsw-intl-ap-southeast-1b"])
    );
    mock.advance(10).await;
    assert_eq!(instance_of(&intl, &id).await["Status"], "Connected");
}

#[tokio::test]
async fn a_vswitch_with_three_free_ips_is_refused_and_other_vswitches_can_be_used() {
    let world = default_world_with(
        "id = \"vsw-china-cn-hangzhou-j\"\nzone = \"cn-hangzhou-j\"\nfree_ips = 252",
        "id = \"vsw-china-cn-hangzhou-j\"\nzone = \"cn-hangzhou-j\"\nfree_ips = 3",
    );
    let mock = Mock::start_with(Some(world)).await;
    let id = mock.buy_visible(&hardware(REGION)).await;
    let before = free_ips(&mock.client, REGION).await;
    assert_eq!(before[VSW_J], 3);
    let r = connect_hsm(&mock.client, &id, AUTO, &[]).await;
    assert_error(
        &r,
        400,
        "InvalidVSwitchId.IpNotEnough",
        &[VSW_J, "at least 4"],
    );
    let inst = mock.instance(&id).await;
    assert_untouched(&inst, &before, &free_ips(&mock.client, REGION).await);
    // A vSwitch of the cluster's VPC in another zone instead (S31: "new" vSwitches).
    let r = connect_hsm(
        &mock.client,
        &id,
        AUTO,
        &[
            ("ZoneIds", "cn-hangzhou-h,cn-hangzhou-k"),
            ("VSwitchIds", &format!("{VSW_H},{VSW_K}")),
        ],
    )
    .await;
    assert_ok(&r);
    let after = free_ips(&mock.client, REGION).await;
    assert_eq!(
        (
            after[VSW_H].clone(),
            after[VSW_J].clone(),
            after[VSW_K].clone()
        ),
        (json!(248), json!(3), json!(248))
    );
    // A vSwitch outside the cluster's VPC, or another VPC, is refused.
    let other = mock.buy_visible(&hardware(REGION)).await;
    let r = connect_hsm(
        &mock.client,
        &other,
        MANUAL,
        &[("VSwitchIds", &format!("{VSW_H},vsw-china-cn-hangzhou-b-k"))],
    )
    .await;
    assert_error(
        &r,
        404,
        "InvalidVSwitchId.NotFound",
        &["vsw-china-cn-hangzhou-b-k"],
    );
    let r = connect_hsm(
        &mock.client,
        &other,
        MANUAL,
        &[("VpcId", "vpc-china-cn-hangzhou-b")],
    )
    .await;
    assert_error(&r, 400, "InvalidParameter", &["VpcId"]);
}

#[tokio::test]
async fn one_cluster_per_instance_and_one_instance_per_cluster() {
    let mock = Mock::start().await;
    let first = mock.buy_visible(&hardware(REGION)).await;
    let second = mock.buy_visible(&hardware(REGION)).await;
    assert_ok(&connect_hsm(&mock.client, &first, AUTO, &[]).await);
    let before = free_ips(&mock.client, REGION).await;

    // The cluster serves the first instance already.
    let r = connect_hsm(&mock.client, &second, AUTO, &[]).await;
    assert_error(&r, 409, "Rejected.HsmClusterInUse", &[AUTO, &first]);
    let inst = mock.instance(&second).await;
    assert_untouched(&inst, &before, &free_ips(&mock.client, REGION).await);

    // The first instance is bound: a second binding is refused, Connecting or Connected.
    let [p12, password, ca] = certificates(&mock, MANUAL, None).await;
    let manual = mainland_manual(&p12, &password, &ca);
    let r = connect_hsm(&mock.client, &first, MANUAL, &manual).await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceStateInvalid",
        &["Connecting"],
    );
    mock.advance(10).await;
    let r = connect_hsm(&mock.client, &first, MANUAL, &manual).await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceStateInvalid",
        &["Connected"],
    );
    assert_eq!(mock.instance(&first).await["HsmClusterId"], AUTO);

    // Unknown clusters are not found; released instances free their cluster and IPs.
    let r = connect_hsm(&mock.client, &second, "hsm-nope", &[]).await;
    assert_error(&r, 404, "InvalidHsmClusterId.NotFound", &["hsm-nope"]);
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
    let freed = free_ips(&mock.client, REGION).await;
    assert_eq!(freed[VSW_H], before[VSW_H].as_u64().unwrap() + 4);
    assert_ok(&connect_hsm(&mock.client, &second, AUTO, &[]).await);
}

#[tokio::test]
async fn software_instances_cannot_connect_to_an_hsm_cluster() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let before = free_ips(&mock.client, REGION).await;
    let r = connect_hsm(&mock.client, &id, AUTO, &[]).await;
    assert_error(&r, 409, "Rejected.UnsupportedOperation", &[&id, "HSM"]);
    let inst = mock.instance(&id).await;
    assert_untouched(&inst, &before, &free_ips(&mock.client, REGION).await);
    let r = mock
        .kms(
            "ConnectKmsInstance",
            &[("KmsInstanceId", &id), ("KMProvider", "HSM")],
        )
        .await;
    assert_error(&r, 400, "MissingParameter", &["HsmClusterId"]);
    // The software instance still enables the software way.
    assert_ok(&mock.connect(&id, ZONE_H, VSW_H).await);
    assert_eq!(mock.instance(&id).await["HsmClusterId"], "");
}

#[tokio::test]
async fn adding_an_hsm_fails_the_sync_of_a_manual_sync_cluster_only() {
    let mock = Mock::start().await;
    let manual = mock.buy_visible(&hardware(REGION)).await;
    let auto = mock.buy_visible(&hardware(REGION)).await;
    let [p12, password, ca] = certificates(&mock, MANUAL, None).await;
    assert_ok(
        &connect_hsm(
            &mock.client,
            &manual,
            MANUAL,
            &mainland_manual(&p12, &password, &ca),
        )
        .await,
    );
    assert_ok(&connect_hsm(&mock.client, &auto, AUTO, &[]).await);
    mock.advance(10).await;
    for (id, cluster) in [(&manual, MANUAL), (&auto, AUTO)] {
        let inst = mock.instance(id).await;
        assert_eq!(
            (inst["Status"].clone(), inst["HsmSyncStatus"].clone()),
            (json!("Connected"), json!("Healthy"))
        );
        let added = mock
            .client
            .admin_post(&format!("/_mock/hsm-clusters/{cluster}/hsms"))
            .await
            .unwrap();
        assert_eq!(added["hsms"], 3, "{added}");
    }
    // S34: manual synchronisation fails, and stays failed; the instance stays Connected.
    mock.advance(60).await;
    let inst = mock.instance(&manual).await;
    assert_eq!(inst["HsmSyncStatus"], "SyncFailed");
    assert_eq!(inst["Status"], "Connected");
    let inst = mock.instance(&auto).await;
    assert_eq!(inst["HsmSyncStatus"], "Healthy");
    // The failed binding still serves keys.
    let key = mock.aes_key(&manual).await;
    mock.encrypt(&key, "still here", None).await;
}

#[tokio::test]
async fn keys_of_a_hardware_instance_are_hsm_protected_and_work_once_connected() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&hardware(REGION)).await;
    assert_ok(&connect_hsm(&mock.client, &id, AUTO, &[]).await);
    let r = mock.kms("CreateKey", &[("DKMSInstanceId", &id)]).await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceStateInvalid",
        &["Connecting"],
    );
    mock.advance(10).await;
    let meta = mock.create_key(&id, &[]).await;
    assert_eq!(meta["ProtectionLevel"], "HSM", "{meta}");
    assert_eq!(meta["DKMSInstanceId"], id.as_str(), "{meta}");
    let key = text(&meta["KeyId"]);
    let blob = mock.encrypt(&key, "hardware secret", None).await;
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await;
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], "hardware secret");
    assert_eq!(r.body["KeyId"], key.as_str());
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
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
async fn cluster_ca_keys_and_operator_passwords_are_sealed_at_rest() {
    let mock = Mock::start().await;
    add_cluster(&mock, "hsm-hangzhou-extra", "manual", "manual").await;
    certificates(&mock, MANUAL, None).await;
    let Mock { server, dir, .. } = mock;
    server.shutdown().await;

    let store = mockcloud::store::Store::open(dir.path()).unwrap();
    let sealer = mockcloud::crypto::Sealer::open_or_create(dir.path()).unwrap();
    let clusters: Vec<Value> = store.list("hsm_cluster").unwrap();
    assert_eq!(clusters.len(), 4);
    let mut needles: Vec<(String, Vec<u8>)> = vec![(
        "operator password".into(),
        OPERATOR_PASSWORD.as_bytes().to_vec(),
    )];
    for c in &clusters {
        let sealed = c["sealed_ca_key"].as_str().expect("sealed_ca_key");
        let pem = String::from_utf8(sealer.open(sealed).expect("opens with master.key")).unwrap();
        assert!(pem.contains("PRIVATE KEY"));
        let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(lines.concat())
            .unwrap();
        for line in lines.iter().filter(|l| l.len() >= 32) {
            needles.push(("CA key (PEM line)".into(), line.as_bytes().to_vec()));
        }
        needles.push(("CA key (DER)".into(), der));
    }
    drop(store);
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    let mut scanned = 0;
    for f in &files {
        let data = std::fs::read(f).unwrap();
        scanned += data.len();
        for (what, needle) in &needles {
            assert!(
                !contains(&data, needle),
                "{what} in plaintext in {}",
                f.display()
            );
        }
    }
    assert!(scanned > 0);
}

#[tokio::test]
async fn hsm_certs_command_writes_a_set_that_binds() {
    let bin = env!("CARGO_BIN_EXE_mockcloud");
    let mock = Mock::start().await;
    // With the server running: through its admin API.
    let out = tempfile::tempdir().unwrap();
    let ca_file = mock.server.ca_file.clone().expect("TLS CA file");
    let status = tokio::process::Command::new(bin)
        .args(["hsm-certs", "--cluster", MANUAL, "--password", "abc12345"])
        .arg("--endpoint")
        .arg(&mock.server.endpoint)
        .arg("--ca-file")
        .arg(&ca_file)
        .arg("--out")
        .arg(out.path())
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let p12 = std::fs::read(out.path().join("client.p12")).unwrap();
    let ca = std::fs::read_to_string(out.path().join("rootca.pem")).unwrap();
    let leaf = mockcloud::pki::open_p12(&p12, "abc12345").expect("opens");
    let ca_der = mockcloud::pki::pem_certificate(&ca).expect("PEM CA");
    assert!(mockcloud::pki::issued_by(&leaf, &ca_der));

    // With the server stopped: from the store directly, then used after a restart.
    let Mock { server, dir, .. } = mock;
    server.shutdown().await;
    let out = tempfile::tempdir().unwrap();
    let r = tokio::process::Command::new(bin)
        .args(["hsm-certs", "--cluster", MANUAL])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--out")
        .arg(out.path())
        .output()
        .await
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("12345678"));
    let server = mockcloud::start(config(&dir, None)).await.unwrap();
    let client = client_for(&server);
    let mock = Mock {
        server,
        client,
        dir,
    };
    let id = mock.buy_visible(&hardware(REGION)).await;
    let p12 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(out.path().join("client.p12")).unwrap())
    };
    let ca = std::fs::read_to_string(out.path().join("rootca.pem")).unwrap();
    assert_ok(
        &connect_hsm(
            &mock.client,
            &id,
            MANUAL,
            &mainland_manual(&p12, "12345678", &ca),
        )
        .await,
    );
    // An unknown cluster is an error, not an empty set.
    let r = tokio::process::Command::new(bin)
        .args(["hsm-certs", "--cluster", "hsm-nope", "--endpoint"])
        .arg(&mock.server.endpoint)
        .arg("--ca-file")
        .arg(mock.server.ca_file.as_ref().unwrap())
        .arg("--out")
        .arg(out.path())
        .output()
        .await
        .unwrap();
    assert!(!r.status.success());
}
