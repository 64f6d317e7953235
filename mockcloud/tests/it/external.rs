//! External instances (S40-S45): ConnectKmsInstance with `KMProvider=XKI` against an in-process
//! XKI proxy over real HTTPS, both connectivity modes and both configuration styles, every
//! refusal leaving the instance untouched, the timing, the admin API, and keys whose
//! cryptography happens in the proxy (no local material, no fallback).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mockcloud::xki::{start_proxy, ProxyConfig, ProxyTarget, RunningProxy, XkiClient};
use serde_json::{json, Value};

use crate::harness::*;

const ZONE_K: &str = "cn-hangzhou-k";
const DOMAIN: &str = "xki-test.mockcloud.test";

fn external(region: &str) -> Order {
    Order::software(region).set("ProductVersion", "external")
}

fn proxy_in(dir: &Path) -> RunningProxy {
    start_proxy(ProxyConfig::new(dir.to_path_buf())).expect("proxy starts")
}

fn proxy_with(dir: &Path, tweak: impl FnOnce(&mut ProxyConfig)) -> RunningProxy {
    let mut cfg = ProxyConfig::new(dir.to_path_buf());
    tweak(&mut cfg);
    start_proxy(cfg).expect("proxy starts")
}

/// An address nothing listens on.
fn dead_address() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn admin(mock: &Mock, path: &str, body: Value) -> (u16, Value) {
    mock.client
        .admin_post_json(path, &body)
        .await
        .expect("admin call")
}

async fn register_domain(mock: &Mock, name: &str, address: SocketAddr) {
    let (status, body) = admin(
        mock,
        "/_mock/xki/domains",
        json!({"name": name, "address": address.to_string()}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn register_service(mock: &Mock, id: &str, zones: &[&str], target: SocketAddr) {
    let (status, body) = admin(
        mock,
        "/_mock/endpoint-services",
        json!({"id": id, "region": REGION, "zones": zones,
               "allowed_accounts": [CHINA_ACCOUNT], "auto_accept": true,
               "target": target.to_string()}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The manual configuration of a proxy, with the fingerprint in the colon-separated upper-case
/// form tools print (the mock normalises it).
fn manual(proxy: &RunningProxy) -> Vec<(&'static str, String)> {
    let c = proxy.config();
    let fp = proxy.fingerprint().to_uppercase();
    let colons: Vec<String> = fp
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    vec![
        ("XkiProxyPath", c.path.clone()),
        ("XkiCertificateFingerprint", colons.join(":")),
        ("XkiAccessKeyId", c.access_key_id.clone()),
        ("XkiAccessKeySecret", c.access_key_secret.clone()),
    ]
}

fn public(domain: &str) -> Vec<(&'static str, String)> {
    vec![
        ("XkiConnectivity", "PublicEndpoint".into()),
        ("XkiProxyDomainName", domain.into()),
    ]
}

fn service(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("XkiConnectivity", "VpcEndpointService".into()),
        ("XkiEndpointServiceId", id.into()),
    ]
}

fn with(
    mut a: Vec<(&'static str, String)>,
    b: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    a.extend(b);
    a
}

/// ConnectKmsInstance with `KMProvider=XKI` in zones `zones` (vSwitches in the same order).
async fn connect_xki(
    mock: &Mock,
    id: &str,
    zones: &str,
    vswitches: &str,
    xki: &[(&'static str, String)],
) -> mockcloud::testing::Reply {
    let mut params: Vec<(&str, &str)> = vec![
        ("KmsInstanceId", id),
        ("KMProvider", "XKI"),
        ("VpcId", VPC),
        ("ZoneIds", zones),
        ("VSwitchIds", vswitches),
    ];
    params.extend(xki.iter().map(|(k, v)| (*k, v.as_str())));
    mock.kms("ConnectKmsInstance", &params).await
}

const HJ: (&str, &str) = (
    "cn-hangzhou-h,cn-hangzhou-j",
    "vsw-china-cn-hangzhou-h,vsw-china-cn-hangzhou-j",
);
const KJ: (&str, &str) = (
    "cn-hangzhou-k,cn-hangzhou-j",
    "vsw-china-cn-hangzhou-k,vsw-china-cn-hangzhou-j",
);

async fn free_ips(mock: &Mock) -> Value {
    let r = mock
        .client
        .call(
            mockcloud::api::VPC_VERSION,
            "DescribeVSwitches",
            &[("RegionId", REGION), ("PageSize", "50")],
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

#[track_caller]
fn assert_untouched(inst: &Value) {
    assert_eq!(inst["Status"], "Uninitialized", "{inst}");
    assert_eq!(inst["VpcId"], "", "{inst}");
    assert_eq!(inst["ZoneIds"], json!([]), "{inst}");
    for f in [
        "XkiConnectivity",
        "XkiProxyDomainName",
        "XkiEndpointServiceId",
        "XkiProxyPath",
        "XkiCertificateFingerprint",
        "XkiAccessKeyId",
        "XkiConfigSource",
        "XkiProxyVendor",
        "XkiProxyStatus",
        "XkiProxyError",
    ] {
        assert_eq!(inst[f], "", "{f} in {inst}");
    }
}

/// The proxy's own view (GetProxyInfo through the public client), for its key count.
fn proxy_key_count(proxy: &RunningProxy) -> u64 {
    let c = proxy.config();
    let target = ProxyTarget {
        address: proxy.addr(),
        server_name: c.domain.clone(),
        path: c.path.clone(),
        fingerprint: proxy.fingerprint(),
        access_key_id: c.access_key_id.clone(),
        access_key_secret: c.access_key_secret.clone(),
    };
    XkiClient::new(Duration::from_secs(3))
        .info(&target)
        .expect("proxy answers")
        .key_count
}

/// An external instance connected to `proxy` over the public endpoint (10 minutes: no secret
/// quota).
async fn connected_external(mock: &Mock, proxy: &RunningProxy) -> String {
    register_domain(mock, DOMAIN, proxy.addr()).await;
    let id = mock.buy_visible(&external(REGION)).await;
    let r = connect_xki(mock, &id, HJ.0, HJ.1, &with(public(DOMAIN), manual(proxy))).await;
    assert_ok(&r);
    mock.advance(10).await;
    assert_eq!(mock.status(&id).await, "Connected");
    id
}

#[tokio::test]
async fn public_endpoint_with_manual_configuration_connects_in_ten_minutes() {
    let pdir = tempfile::tempdir().unwrap();
    let proxy = proxy_in(pdir.path());
    let mock = Mock::start().await;
    register_domain(&mock, DOMAIN, proxy.addr()).await;
    let id = mock.buy_visible(&external(REGION)).await;
    let before = free_ips(&mock).await;
    let r = connect_xki(
        &mock,
        &id,
        HJ.0,
        HJ.1,
        &with(public(DOMAIN), manual(&proxy)),
    )
    .await;
    assert_ok(&r);
    let inst = mock.instance(&id).await;
    assert_eq!(inst["Status"], "Connecting");
    assert_eq!(inst["ProductVersion"], "external");
    assert_eq!(inst["VpcId"], VPC);
    assert_eq!(inst["ZoneIds"], json!([ZONE_H, ZONE_J]));
    assert_eq!(inst["VswitchIds"], json!([VSW_H, VSW_J]));
    assert_eq!(inst["XkiConnectivity"], "PublicEndpoint");
    assert_eq!(inst["XkiProxyDomainName"], DOMAIN);
    assert_eq!(inst["XkiEndpointServiceId"], "");
    assert_eq!(inst["XkiProxyPath"], "/xki");
    assert_eq!(
        inst["XkiCertificateFingerprint"],
        proxy.fingerprint().as_str()
    );
    assert_eq!(
        inst["XkiAccessKeyId"],
        proxy.config().access_key_id.as_str()
    );
    assert_eq!(inst["XkiConfigSource"], "Manual");
    assert_eq!(inst["XkiProxyVendor"], "Jiangnan Tianan");
    assert_eq!(inst["XkiProxyStatus"], "Reachable");
    assert_eq!(inst["XkiProxyError"], "");
    assert!(
        !inst.to_string().contains(&proxy.config().access_key_secret),
        "the secret is never returned"
    );
    // One free IP taken from each vSwitch (S43 = S20).
    let after = free_ips(&mock).await;
    assert_eq!(after[VSW_H], before[VSW_H].as_u64().unwrap() - 1);
    assert_eq!(after[VSW_J], before[VSW_J].as_u64().unwrap() - 1);
    // S44: about 10 minutes without a secret quota.
    mock.advance(9).await;
    assert_eq!(mock.status(&id).await, "Connecting");
    mock.advance(1).await;
    assert_eq!(mock.status(&id).await, "Connected");
    // Connected once is not connectable again.
    let r = connect_xki(
        &mock,
        &id,
        HJ.0,
        HJ.1,
        &with(public(DOMAIN), manual(&proxy)),
    )
    .await;
    assert_error(
        &r,
        403,
        "Forbidden.DKMSInstanceStateInvalid",
        &["Connected"],
    );
    proxy.stop();
}

#[tokio::test]
async fn endpoint_service_with_a_config_file_takes_thirty_minutes_with_a_secret_quota() {
    let pdir = tempfile::tempdir().unwrap();
    let proxy = proxy_in(pdir.path());
    let mock = Mock::start().await;
    register_service(&mock, "epsrv-xki-test", &[ZONE_K, ZONE_J], proxy.addr()).await;
    let id = mock
        .buy_visible(&external(REGION).set("SecretNum", "100"))
        .await;
    let file = vec![("XkiConfigFile", proxy.config_file_json())];
    let r = connect_xki(
        &mock,
        &id,
        KJ.0,
        KJ.1,
        &with(service("epsrv-xki-test"), file),
    )
    .await;
    assert_ok(&r);
    let inst = mock.instance(&id).await;
    assert_eq!(inst["Status"], "Connecting");
    assert_eq!(inst["ZoneIds"], json!([ZONE_K, ZONE_J]));
    assert_eq!(inst["XkiConnectivity"], "VpcEndpointService");
    assert_eq!(inst["XkiEndpointServiceId"], "epsrv-xki-test");
    assert_eq!(inst["XkiProxyDomainName"], "");
    assert_eq!(inst["XkiConfigSource"], "ConfigFile");
    assert_eq!(
        inst["XkiCertificateFingerprint"],
        proxy.fingerprint().as_str()
    );
    assert_eq!(inst["XkiProxyStatus"], "Reachable");
    // S44: about 30 minutes with a secret quota.
    mock.advance(29).await;
    assert_eq!(mock.status(&id).await, "Connecting");
    mock.advance(1).await;
    assert_eq!(mock.status(&id).await, "Connected");
    proxy.stop();
}

/// One refused enablement: what it is, zones and vSwitches, the XKI parameters, the expected
/// status and code, and what the message must name.
type Refusal = (
    &'static str,
    (&'static str, &'static str),
    Params,
    u16,
    &'static str,
    Vec<String>,
);

type Params = Vec<(&'static str, String)>;

#[tokio::test]
async fn every_refusal_leaves_the_instance_uninitialized() {
    let pdir = tempfile::tempdir().unwrap();
    let proxy = proxy_in(pdir.path());
    let sdir = tempfile::tempdir().unwrap();
    let sansec = proxy_with(sdir.path(), |c| c.vendor = "Sansec".into());
    let mock = Mock::start().await;
    register_domain(&mock, DOMAIN, proxy.addr()).await;
    register_domain(&mock, "sansec.mockcloud.test", sansec.addr()).await;
    register_domain(&mock, "down.mockcloud.test", dead_address()).await;
    // The default world's services lead to 127.0.0.1:9444; their checks come before any call.
    register_service(&mock, "epsrv-xki-test", &[ZONE_K, ZONE_J], proxy.addr()).await;
    let id = mock.buy_visible(&external(REGION)).await;
    let ips = free_ips(&mock).await;
    let good = manual(&proxy);
    let replace = |name: &'static str, value: &str| {
        good.iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == name {
                        value.to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    let other_fp = "00".repeat(32);
    let wrong_secret = "not-the-proxy-secret";
    let mut bad_file: Value = serde_json::from_str(&proxy.config_file_json()).unwrap();
    bad_file.as_object_mut().unwrap().remove("AccessKeySecret");
    let cases: Vec<Refusal> = vec![
        (
            "wrong vendor",
            HJ,
            with(public("sansec.mockcloud.test"), manual(&sansec)),
            403,
            "Forbidden.XkiVendorNotSupported",
            vec!["Sansec".into()],
        ),
        (
            "endpoint service with other zones",
            KJ,
            with(service("epsrv-xki-hangzhou-other-zones"), good.clone()),
            400,
            "InvalidParameter.XkiEndpointServiceZones",
            vec![
                "cn-hangzhou-h, cn-hangzhou-j".into(),
                "cn-hangzhou-k, cn-hangzhou-j".into(),
            ],
        ),
        (
            "account not on the allowlist",
            KJ,
            with(service("epsrv-xki-hangzhou-private"), good.clone()),
            403,
            "Forbidden.XkiEndpointServiceAllowlist",
            vec![CHINA_ACCOUNT.into()],
        ),
        (
            "no automatic acceptance",
            KJ,
            with(service("epsrv-xki-hangzhou-manual-accept"), good.clone()),
            400,
            "Rejected.XkiEndpointServiceAutoAccept",
            vec!["epsrv-xki-hangzhou-manual-accept".into()],
        ),
        (
            "unknown endpoint service",
            KJ,
            with(service("epsrv-nowhere"), good.clone()),
            400,
            "InvalidParameter.XkiEndpointServiceId",
            vec!["epsrv-nowhere".into()],
        ),
        (
            "malformed fingerprint",
            HJ,
            with(
                public(DOMAIN),
                replace("XkiCertificateFingerprint", "12:34"),
            ),
            400,
            "InvalidParameter.XkiCertificateFingerprint",
            vec![],
        ),
        (
            "another certificate's fingerprint",
            HJ,
            with(
                public(DOMAIN),
                replace("XkiCertificateFingerprint", &other_fp),
            ),
            400,
            "InvalidParameter.XkiCertificateFingerprint",
            vec![proxy.fingerprint(), other_fp.clone()],
        ),
        (
            "wrong secret",
            HJ,
            with(public(DOMAIN), replace("XkiAccessKeySecret", wrong_secret)),
            400,
            "InvalidParameter.XkiAccessKey",
            vec!["XkiAccessKeySecret".into()],
        ),
        (
            "unknown access key id",
            HJ,
            with(public(DOMAIN), replace("XkiAccessKeyId", "nobody")),
            400,
            "InvalidParameter.XkiAccessKey",
            // The id is not quoted back: it could be a secret given in the wrong field.
            vec!["XkiAccessKeyId".into(), "InvalidAccessKeyId".into()],
        ),
        (
            "unresolvable domain",
            HJ,
            with(public("nowhere.mockcloud.test"), good.clone()),
            400,
            "InvalidParameter.XkiProxyDomainName",
            vec!["nowhere.mockcloud.test".into()],
        ),
        (
            "proxy down",
            HJ,
            with(public("down.mockcloud.test"), good.clone()),
            400,
            "Rejected.XkiProxyUnreachable",
            vec!["down.mockcloud.test".into()],
        ),
        (
            "config file without a field",
            HJ,
            with(
                public(DOMAIN),
                vec![("XkiConfigFile", bad_file.to_string())],
            ),
            400,
            "InvalidParameter.XkiConfigFile",
            vec!["AccessKeySecret".into()],
        ),
        (
            "config file that is not JSON",
            HJ,
            with(
                public(DOMAIN),
                vec![("XkiConfigFile", "ProxyPath=/xki".into())],
            ),
            400,
            "InvalidParameter.XkiConfigFile",
            vec![],
        ),
        (
            "both configuration styles",
            HJ,
            with(
                with(public(DOMAIN), good.clone()),
                vec![("XkiConfigFile", proxy.config_file_json())],
            ),
            400,
            "InvalidParameter",
            vec!["XkiConfigFile".into(), "XkiProxyPath".into()],
        ),
        (
            "no configuration",
            HJ,
            public(DOMAIN),
            400,
            "InvalidParameter",
            vec!["XkiConfigFile".into(), "XkiAccessKeySecret".into()],
        ),
        (
            "domain name with an endpoint service",
            HJ,
            with(
                with(
                    public(DOMAIN),
                    vec![("XkiEndpointServiceId", "epsrv-xki-test".into())],
                ),
                good.clone(),
            ),
            400,
            "InvalidParameter",
            vec!["XkiEndpointServiceId".into()],
        ),
        (
            "no connectivity",
            HJ,
            good.clone(),
            400,
            "MissingParameter",
            vec!["XkiConnectivity".into()],
        ),
        (
            "HSM parameters",
            HJ,
            with(
                with(public(DOMAIN), good.clone()),
                vec![("HsmClusterId", "hsm-hangzhou-auto".into())],
            ),
            400,
            "InvalidParameter",
            vec!["HsmClusterId".into()],
        ),
        (
            "vSwitch in another zone",
            ("cn-hangzhou-h,cn-hangzhou-j", "vsw-china-cn-hangzhou-j"),
            with(public(DOMAIN), good.clone()),
            400,
            "InvalidParameter.VSwitchZoneMismatch",
            vec![],
        ),
    ];
    for (what, (zones, vsws), params, status, code, mentions) in &cases {
        let r = connect_xki(&mock, &id, zones, vsws, params).await;
        let mentions: Vec<&str> = mentions.iter().map(String::as_str).collect();
        assert_eq!((r.status, r.code()), (*status, *code), "{what}: {}", r.body);
        assert_error(&r, *status, code, &mentions);
        let message = r.body["Message"].as_str().unwrap_or_default();
        assert!(
            !message.contains(wrong_secret) && !message.contains(&proxy.config().access_key_secret),
            "{what}: the message echoes a secret: {message}"
        );
        assert_untouched(&mock.instance(&id).await);
        assert_eq!(free_ips(&mock).await, ips, "{what}: vSwitch IPs changed");
    }
    // XKI parameters on the other kinds of enablement are refused, naming them.
    let r = mock
        .kms(
            "ConnectKmsInstance",
            &[
                ("KmsInstanceId", &id),
                ("KMProvider", "Aliyun"),
                ("VpcId", VPC),
                ("ZoneIds", ZONE_H),
                ("VSwitchIds", VSW_H),
                ("XkiConnectivity", "PublicEndpoint"),
            ],
        )
        .await;
    assert_error(
        &r,
        400,
        "InvalidParameter",
        &["XkiConnectivity", "KMProvider=XKI"],
    );
    let r = mock
        .kms(
            "ConnectKmsInstance",
            &[
                ("KmsInstanceId", &id),
                ("KMProvider", "HSM"),
                ("HsmClusterId", "hsm-hangzhou-auto"),
                ("XkiConfigFile", "{}"),
            ],
        )
        .await;
    assert_error(&r, 400, "InvalidParameter", &["XkiConfigFile"]);
    // A software instance is not enabled through a proxy.
    let sw = mock.buy_visible(&Order::software(REGION)).await;
    let r = connect_xki(&mock, &sw, HJ.0, HJ.1, &with(public(DOMAIN), good.clone())).await;
    assert_error(&r, 409, "Rejected.UnsupportedOperation", &[&sw]);
    assert_untouched(&mock.instance(&id).await);
    // After all that, the right request goes through.
    let r = connect_xki(&mock, &id, HJ.0, HJ.1, &with(public(DOMAIN), good)).await;
    assert_ok(&r);
    assert_eq!(mock.status(&id).await, "Connecting");
    proxy.stop();
    sansec.stop();
}

#[tokio::test]
async fn admin_api_adds_and_lists_domains_and_endpoint_services() {
    let mock = Mock::start().await;
    let domains = mock.client.admin_get("/_mock/xki/domains").await.unwrap();
    assert_eq!(
        domains["xki_domains"],
        json!([{"name": "xki-proxy.mockcloud.test", "address": "127.0.0.1:9444"}])
    );
    let services = mock
        .client
        .admin_get("/_mock/endpoint-services")
        .await
        .unwrap();
    let ids: Vec<String> = services["endpoint_services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| text(&s["id"]))
        .collect();
    for id in [
        "epsrv-xki-hangzhou",
        "epsrv-xki-hangzhou-other-zones",
        "epsrv-xki-hangzhou-private",
        "epsrv-xki-hangzhou-manual-accept",
    ] {
        assert!(ids.contains(&id.to_string()), "{id} in {ids:?}");
    }
    // Upsert: the default name moves.
    register_domain(
        &mock,
        "xki-proxy.mockcloud.test",
        "127.0.0.1:19444".parse().unwrap(),
    )
    .await;
    register_domain(&mock, DOMAIN, "127.0.0.1:19445".parse().unwrap()).await;
    let domains = mock.client.admin_get("/_mock/xki/domains").await.unwrap();
    assert_eq!(
        domains["xki_domains"].as_array().unwrap().len(),
        2,
        "{domains}"
    );
    assert!(domains.to_string().contains("127.0.0.1:19444"), "{domains}");
    register_service(
        &mock,
        "epsrv-xki-hangzhou",
        &[ZONE_H],
        "127.0.0.1:19446".parse().unwrap(),
    )
    .await;
    let services = mock
        .client
        .admin_get("/_mock/endpoint-services")
        .await
        .unwrap();
    let svc = services["endpoint_services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "epsrv-xki-hangzhou")
        .unwrap()
        .clone();
    assert_eq!(
        svc,
        json!({"id": "epsrv-xki-hangzhou", "region": REGION, "zones": [ZONE_H],
               "allowed_accounts": [CHINA_ACCOUNT], "auto_accept": true, "target": "127.0.0.1:19446"})
    );
    // Refusals: unknown fields, a bad address, a zone of another region, a bad name.
    for (path, body, mention) in [
        (
            "/_mock/xki/domains",
            json!({"name": "a.test", "address": "127.0.0.1:1", "ttl": 5}),
            "ttl",
        ),
        (
            "/_mock/xki/domains",
            json!({"name": "a.test", "address": "somewhere"}),
            "address",
        ),
        (
            "/_mock/xki/domains",
            json!({"name": "bad name", "address": "127.0.0.1:1"}),
            "DNS name",
        ),
        (
            "/_mock/endpoint-services",
            json!({"id": "e", "region": REGION, "zones": ["cn-shanghai-e"], "allowed_accounts": [],
                   "auto_accept": true, "target": "127.0.0.1:1"}),
            "not in region",
        ),
        (
            "/_mock/endpoint-services",
            json!({"id": "e", "region": "mars-1", "zones": ["x"], "auto_accept": true, "target": "127.0.0.1:1"}),
            "unknown region",
        ),
        (
            "/_mock/endpoint-services",
            json!({"id": "e", "region": REGION, "zones": [ZONE_H], "auto_accept": true,
                   "target": "127.0.0.1:1", "owner": "x"}),
            "owner",
        ),
    ] {
        let (status, reply) = admin(&mock, path, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {reply}");
        assert!(reply.to_string().contains(mention), "{body} -> {reply}");
    }
}

/// The sealed material of a key version record, as stored (null for external keys).
fn stored_version(dir: &Path, version_id: &str) -> Value {
    let store = mockcloud::store::Store::open(dir).unwrap();
    store
        .get::<Value>("key_version", version_id)
        .unwrap()
        .expect("version record")
}

#[tokio::test]
async fn keys_of_an_external_instance_live_in_the_proxy() {
    let pdir = tempfile::tempdir().unwrap();
    let proxy = proxy_in(pdir.path());
    let addr = proxy.addr();
    let mock = Mock::start().await;
    let id = connected_external(&mock, &proxy).await;

    // S45: symmetric keys only.
    let r = mock
        .kms(
            "CreateKey",
            &[("DKMSInstanceId", &id), ("KeySpec", "EC_P256")],
        )
        .await;
    assert_error(&r, 400, "Rejected.UnsupportedOperation", &["EC_P256"]);

    let count = proxy_key_count(&proxy);
    let meta = mock.create_key(&id, &[]).await;
    let key = text(&meta["KeyId"]);
    let v1 = text(&meta["PrimaryKeyVersion"]);
    assert_eq!(meta["ProtectionLevel"], "HSM");
    assert_eq!(
        proxy_key_count(&proxy),
        count + 1,
        "CreateKey made the material in the proxy"
    );

    let ctx = r#"{"app":"billing"}"#;
    let blob = mock.encrypt(&key, "kept off-cloud", Some(ctx)).await;
    let r = mock
        .kms(
            "Decrypt",
            &[("CiphertextBlob", &blob), ("EncryptionContext", ctx)],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], "kept off-cloud");
    assert_eq!(r.body["KeyId"], key.as_str());
    assert_eq!(r.body["KeyVersionId"], v1.as_str());
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await;
    assert_error(&r, 400, "InvalidParameter", &["CiphertextBlob"]);

    let r = mock
        .kms(
            "GenerateDataKey",
            &[("KeyId", &key), ("NumberOfBytes", "32")],
        )
        .await;
    assert_ok(&r);
    let data_key = text(&r.body["Plaintext"]);
    let r = mock
        .kms(
            "Decrypt",
            &[("CiphertextBlob", &text(&r.body["CiphertextBlob"]))],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], data_key.as_str());
    let r = mock
        .kms("GenerateDataKeyWithoutPlaintext", &[("KeyId", &key)])
        .await;
    assert_ok(&r);

    // A new version is made by the proxy too; the old ciphertext still decrypts.
    let r = mock.kms("CreateKeyVersion", &[("KeyId", &key)]).await;
    assert_ok(&r);
    let v2 = text(&r.body["KeyVersion"]["KeyVersionId"]);
    assert_eq!(proxy_key_count(&proxy), count + 2);
    let blob2 = mock.encrypt(&key, "under v2", None).await;

    // The proxy stops: cryptography fails, nothing falls back, the key and instance stay.
    proxy.stop();
    let r = mock
        .kms("Encrypt", &[("KeyId", &key), ("Plaintext", "x")])
        .await;
    assert_error(
        &r,
        400,
        "Rejected.XkiProxyUnavailable",
        &[&id, "unreachable"],
    );
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob2)]).await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id]);
    let r = mock.kms("GenerateDataKey", &[("KeyId", &key)]).await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id]);
    let r = mock.kms("CreateKey", &[("DKMSInstanceId", &id)]).await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id]);
    let r = mock.kms("CreateKeyVersion", &[("KeyId", &key)]).await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id]);
    // The last probe (Reachable) is kept for 2 seconds.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let inst = mock.instance(&id).await;
    assert_eq!(inst["Status"], "Connected");
    assert_eq!(inst["XkiProxyStatus"], "Unreachable", "{inst}");
    assert!(
        !inst["XkiProxyError"].as_str().unwrap().is_empty(),
        "{inst}"
    );
    let r = mock.kms("DescribeKey", &[("KeyId", &key)]).await;
    assert_ok(&r);
    assert_eq!(r.body["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(r.body["KeyMetadata"]["PrimaryKeyVersion"], v2.as_str());
    let r = mock.kms("ListKeyVersions", &[("KeyId", &key)]).await;
    assert_ok(&r);
    assert_eq!(
        r.body["TotalCount"], 2,
        "the failed CreateKeyVersion stored nothing"
    );

    // Back on the same directory and port: the old ciphertext decrypts.
    let back = proxy_with(pdir.path(), |c| c.listen = addr);
    let r = mock
        .kms(
            "Decrypt",
            &[("CiphertextBlob", &blob), ("EncryptionContext", ctx)],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], "kept off-cloud");
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob2)]).await;
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], "under v2");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(mock.instance(&id).await["XkiProxyStatus"], "Reachable");

    // The mock's store holds no material for the external key's versions.
    let Mock { server, dir, .. } = mock;
    server.shutdown().await;
    for v in [&v1, &v2] {
        let rec = stored_version(dir.path(), v);
        assert_eq!(rec["sealed_material"], Value::Null, "{rec}");
    }
    back.stop();
}

#[tokio::test]
async fn a_proxy_slower_than_the_time_limit_is_unavailable() {
    let pdir = tempfile::tempdir().unwrap();
    let proxy = proxy_in(pdir.path());
    let mock = Mock::start_tweaked(|cfg| cfg.xki_timeout = Duration::from_millis(300)).await;
    let id = connected_external(&mock, &proxy).await;
    let key = mock.aes_key(&id).await;
    let blob = mock.encrypt(&key, "in time", None).await;

    // Far past the limit, so the bound below holds on a loaded machine too.
    proxy.set_delay(Duration::from_millis(3000));
    let started = std::time::Instant::now();
    let r = mock
        .kms("Encrypt", &[("KeyId", &key), ("Plaintext", "late")])
        .await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id, "timeout"]);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id, "timeout"]);

    proxy.set_delay(Duration::ZERO);
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await;
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], "in time");
    proxy.stop();
}

#[tokio::test]
async fn a_proxy_with_another_certificate_or_other_credentials_is_unavailable() {
    let pdir = tempfile::tempdir().unwrap();
    let proxy = proxy_in(pdir.path());
    let addr = proxy.addr();
    let mock = Mock::start().await;
    let id = connected_external(&mock, &proxy).await;
    let key = mock.aes_key(&id).await;
    let blob = mock.encrypt(&key, "pinned", None).await;
    proxy.stop();

    // Another proxy (a fresh directory: another certificate) at the same address.
    let other_dir = tempfile::tempdir().unwrap();
    let impostor = proxy_with(other_dir.path(), |c| c.listen = addr);
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await;
    assert_error(
        &r,
        400,
        "Rejected.XkiProxyUnavailable",
        &[&id, "certificate"],
    );
    let inst = mock.kms("GetKmsInstance", &[("KmsInstanceId", &id)]).await;
    let inst = &inst.body["KmsInstance"];
    assert_eq!(inst["Status"], "Connected");
    assert_eq!(inst["XkiProxyStatus"], "Unreachable");
    assert!(
        inst["XkiProxyError"]
            .as_str()
            .is_some_and(|e| e.starts_with("certificate")),
        "{inst}"
    );
    impostor.stop();

    // The right proxy, but its access key secret changed: the cloud's is refused.
    let rotated = proxy_with(pdir.path(), |c| {
        c.listen = addr;
        c.access_key_secret = "rotated-secret".into();
    });
    let r = mock
        .kms("Encrypt", &[("KeyId", &key), ("Plaintext", "x")])
        .await;
    assert_error(
        &r,
        400,
        "Rejected.XkiProxyUnavailable",
        &[&id, "credentials"],
    );
    assert!(!r.body.to_string().contains("rotated-secret"), "{}", r.body);
    rotated.stop();

    // Back as it was: the old ciphertext decrypts.
    let back = proxy_with(pdir.path(), |c| c.listen = addr);
    let r = mock.kms("Decrypt", &[("CiphertextBlob", &blob)]).await;
    assert_ok(&r);
    assert_eq!(r.body["Plaintext"], "pinned");
    back.stop();
}

#[tokio::test]
async fn secrets_under_an_external_key_are_encrypted_by_the_proxy() {
    let pdir = tempfile::tempdir().unwrap();
    let proxy = proxy_in(pdir.path());
    let addr = proxy.addr();
    let mock = Mock::start().await;
    register_domain(&mock, DOMAIN, addr).await;
    let id = mock
        .buy_visible(&external(REGION).set("SecretNum", "100"))
        .await;
    let r = connect_xki(
        &mock,
        &id,
        HJ.0,
        HJ.1,
        &with(public(DOMAIN), manual(&proxy)),
    )
    .await;
    assert_ok(&r);
    mock.advance(30).await;
    assert_eq!(mock.status(&id).await, "Connected");
    let key = text(&mock.create_key(&id, &[]).await["KeyId"]);
    let secret = |name: &'static str, version: &'static str, data: &'static str| {
        [
            ("SecretName", name),
            ("VersionId", version),
            ("SecretData", data),
            ("EncryptionKeyId", key.as_str()),
        ]
    };
    assert_ok(
        &mock
            .kms("CreateSecret", &secret("db", "v1", "off-cloud-value"))
            .await,
    );
    let r = mock.kms("GetSecretValue", &[("SecretName", "db")]).await;
    assert_ok(&r);
    assert_eq!(r.body["SecretData"], "off-cloud-value");

    // Proxy down: the value cannot be read, and nothing new is written.
    proxy.stop();
    let r = mock.kms("GetSecretValue", &[("SecretName", "db")]).await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id]);
    let put = [
        ("SecretName", "db"),
        ("VersionId", "v2"),
        ("SecretData", "second"),
    ];
    let r = mock.kms("PutSecretValue", &put).await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id]);
    let r = mock.kms("CreateSecret", &secret("db2", "v1", "x")).await;
    assert_error(&r, 400, "Rejected.XkiProxyUnavailable", &[&id]);
    let r = mock.kms("DescribeSecret", &[("SecretName", "db2")]).await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Back: the old value reads again and the refused version was never stored.
    let back = proxy_with(pdir.path(), |c| c.listen = addr);
    let r = mock
        .kms(
            "GetSecretValue",
            &[("SecretName", "db"), ("VersionId", "v2")],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_ok(&mock.kms("PutSecretValue", &put).await);
    let r = mock.kms("GetSecretValue", &[("SecretName", "db")]).await;
    assert_eq!(r.body["SecretData"], "second", "{}", r.body);
    let r = mock
        .kms(
            "GetSecretValue",
            &[("SecretName", "db"), ("VersionId", "v1")],
        )
        .await;
    assert_eq!(r.body["SecretData"], "off-cloud-value", "{}", r.body);
    back.stop();
}
