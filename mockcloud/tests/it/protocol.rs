//! The OpenAPI protocol edge: signatures (ACS3 and v1), timestamps, nonces, routing, response
//! shape, and malformed requests.

use mockcloud::clock::{iso, wall_now_ms};
use mockcloud::sign;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::harness::{assert_ok, listed_ids, Mock, Order, DEFAULT_SECRET, REGION};

/// A raw HTTP reply with its headers.
struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Raw {
    fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["Message"].as_str().unwrap_or("")
    }

    #[track_caller]
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected reply {}",
            self.body
        );
    }
}

async fn send(req: reqwest::RequestBuilder) -> Raw {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Raw {
        status,
        headers,
        body,
    }
}

fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An ACS3-HMAC-SHA256 request built by hand, so a test can choose its date, nonce and secret.
#[derive(Clone)]
struct Acs3 {
    action: String,
    version: String,
    params: Vec<(String, String)>,
    key_id: String,
    secret: String,
    date: String,
    nonce: String,
    /// A header sent but left out of SignedHeaders.
    unsigned: Option<&'static str>,
}

impl Acs3 {
    fn new(mock: &Mock, action: &str, params: &[(&str, &str)]) -> Acs3 {
        Acs3 {
            action: action.to_string(),
            version: mockcloud::api::KMS_VERSION.to_string(),
            params: pairs(params),
            key_id: mock.server.access_key_id.clone(),
            secret: mock.server.access_key_secret.clone(),
            date: iso(wall_now_ms()),
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            unsigned: None,
        }
    }

    fn headers(&self, mock: &Mock) -> Vec<(String, String)> {
        [
            ("accept", "application/json"),
            ("host", &mock.server.addr.to_string()),
            ("x-acs-action", &self.action),
            ("x-acs-content-sha256", sign::EMPTY_SHA256),
            ("x-acs-date", &self.date),
            ("x-acs-signature-nonce", &self.nonce),
            ("x-acs-version", &self.version),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    fn signed_headers(&self, mock: &Mock) -> String {
        self.headers(mock)
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| Some(*n) != self.unsigned)
            .collect::<Vec<_>>()
            .join(";")
    }

    fn string_to_sign(&self, mock: &Mock) -> String {
        sign::acs3_string_to_sign(
            "POST",
            "/",
            &self.params,
            &self.headers(mock),
            &self.signed_headers(mock),
            sign::EMPTY_SHA256,
        )
        .1
    }

    fn request(&self, mock: &Mock) -> reqwest::RequestBuilder {
        let signature = sign::acs3_signature(&self.secret, &self.string_to_sign(mock));
        let url = format!(
            "{}/?{}",
            mock.server.endpoint,
            sign::canonical_query(&self.params)
        );
        let mut req = mock.client.http().post(url);
        for (n, v) in self.headers(mock).iter().filter(|(n, _)| n != "host") {
            req = req.header(n, v);
        }
        req.header(
            "authorization",
            format!(
                "{} Credential={},SignedHeaders={},Signature={signature}",
                sign::ACS3_ALGORITHM,
                self.key_id,
                self.signed_headers(mock)
            ),
        )
    }

    async fn send(&self, mock: &Mock) -> Raw {
        send(self.request(mock)).await
    }
}

/// A v1 (HMAC-SHA1, SignatureVersion 1.0) request: every parameter in the query.
fn v1_params(mock: &Mock, action: &str, secret: &str) -> (Vec<(String, String)>, String) {
    let mut params = pairs(&[
        ("Action", action),
        ("Version", mockcloud::api::KMS_VERSION),
        ("AccessKeyId", &mock.server.access_key_id),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", &uuid::Uuid::new_v4().simple().to_string()),
        ("Timestamp", &iso(wall_now_ms())),
        ("Format", "JSON"),
        ("RegionId", REGION),
    ]);
    let sts = sign::v1_string_to_sign("POST", &params);
    params.push(("Signature".to_string(), sign::v1_signature(secret, &sts)));
    (params, sts)
}

async fn send_v1(mock: &Mock, params: &[(String, String)]) -> Raw {
    let url = format!(
        "{}/?{}",
        mock.server.endpoint,
        sign::canonical_query(params)
    );
    send(mock.client.http().post(url)).await
}

/// aliyun-python-sdk-core takes `message.split(':')[1]` as the server's string to sign.
#[track_caller]
fn assert_names_string_to_sign_once(message: &str, string_to_sign: &str) {
    assert_eq!(
        message.matches("server string to sign is:").count(),
        1,
        "{message}"
    );
    assert!(
        message.ends_with(&format!("server string to sign is:{string_to_sign}")),
        "{message:?} does not end with the string to sign {string_to_sign:?}"
    );
    let parts: Vec<&str> = message.split(':').collect();
    assert_eq!(parts.len(), 2, "exactly one ':' expected in {message:?}");
    assert_eq!(parts[1], string_to_sign);
}

#[tokio::test]
async fn acs3_request_with_wrong_secret_is_refused_with_server_string_to_sign() {
    let mock = Mock::start().await;
    let mut req = Acs3::new(&mock, "ListKmsInstances", &[("PageSize", "5")]);
    req.secret = "not-the-secret".into();
    let r = req.send(&mock).await;
    r.assert_error(400, "SignatureDoesNotMatch");
    let sts = req.string_to_sign(&mock);
    assert!(sts.starts_with("ACS3-HMAC-SHA256\n"), "{sts}");
    assert_names_string_to_sign_once(r.message(), &sts);
}

#[tokio::test]
async fn v1_request_with_wrong_secret_is_refused_with_server_string_to_sign() {
    let mock = Mock::start().await;
    let (params, sts) = v1_params(&mock, "ListKmsInstances", "not-the-secret");
    let r = send_v1(&mock, &params).await;
    r.assert_error(400, "SignatureDoesNotMatch");
    assert!(sts.starts_with("POST&%2F&"), "{sts}");
    assert_names_string_to_sign_once(r.message(), &sts);
}

#[tokio::test]
async fn unknown_access_key_is_refused_as_not_found() {
    let mock = Mock::start().await;
    let stranger = mock.client.with_keys("no-such-key", DEFAULT_SECRET);
    let r = stranger.kms("ListKmsInstances", &[]).await.unwrap();
    assert_eq!(
        (r.status, r.code()),
        (404, "InvalidAccessKeyId.NotFound"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn reused_nonce_is_refused() {
    let mock = Mock::start().await;
    let req = Acs3::new(&mock, "ListKmsInstances", &[]);
    let first = req.send(&mock).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = req.send(&mock).await;
    replay.assert_error(400, "SignatureNonceUsed");
    // A fresh nonce on the same request goes through again.
    let fresh = Acs3 {
        nonce: "another-nonce".into(),
        ..req
    };
    assert_eq!(fresh.send(&mock).await.status, 200);
}

#[tokio::test]
async fn reused_v1_nonce_is_refused() {
    let mock = Mock::start().await;
    let (params, _) = v1_params(&mock, "ListKmsInstances", DEFAULT_SECRET);
    assert_eq!(send_v1(&mock, &params).await.status, 200);
    send_v1(&mock, &params)
        .await
        .assert_error(400, "SignatureNonceUsed");
}

#[tokio::test]
async fn request_dated_twenty_minutes_off_is_refused_as_expired() {
    let mock = Mock::start().await;
    for offset_minutes in [-20, 20] {
        let mut req = Acs3::new(&mock, "ListKmsInstances", &[]);
        req.date = iso(wall_now_ms() + offset_minutes * 60_000);
        req.send(&mock)
            .await
            .assert_error(400, "InvalidTimeStamp.Expired");
    }
    // Ten minutes of skew is inside the 15-minute window.
    let mut req = Acs3::new(&mock, "ListKmsInstances", &[]);
    req.date = iso(wall_now_ms() - 10 * 60_000);
    assert_eq!(req.send(&mock).await.status, 200);
}

#[tokio::test]
async fn advancing_the_simulated_clock_does_not_break_signatures() {
    let mock = Mock::start().await;
    mock.advance(24 * 60).await;
    let r = mock.kms("ListKmsInstances", &[]).await;
    assert_ok(&r);
}

#[tokio::test]
async fn unknown_action_is_not_found() {
    let mock = Mock::start().await;
    let r = mock.kms("MakeCoffee", &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "InvalidAction.NotFound"),
        "{}",
        r.body
    );
    assert!(r.body["Message"].as_str().unwrap().contains("MakeCoffee"));
}

#[tokio::test]
async fn unknown_version_is_refused() {
    let mock = Mock::start().await;
    let r = mock
        .client
        .call("2099-01-01", "ListKmsInstances", &[])
        .await
        .unwrap();
    assert_eq!((r.status, r.code()), (400, "InvalidVersion"), "{}", r.body);
    assert!(r.body["Message"].as_str().unwrap().contains("2099-01-01"));
}

#[tokio::test]
async fn v1_hmac_sha1_signed_request_lists_instances() {
    let mock = Mock::start().await;
    let id = mock.buy_visible(&Order::software(REGION)).await;
    let (params, _) = v1_params(&mock, "ListKmsInstances", DEFAULT_SECRET);
    let r = send_v1(&mock, &params).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(listed_ids(&r.body), [id]);
    assert_eq!(r.body["TotalCount"], 1);
}

#[tokio::test]
async fn responses_carry_request_id_header_and_json_content_type() {
    let mock = Mock::start().await;
    let ok = Acs3::new(&mock, "ListKmsInstances", &[]).send(&mock).await;
    let refused = Acs3::new(&mock, "GetKmsInstance", &[("KmsInstanceId", "kst-none")])
        .send(&mock)
        .await;
    refused.assert_error(403, "Forbidden.DKMSInstanceNotFound");
    assert_eq!(ok.status, 200);
    for r in [&ok, &refused] {
        let id = r.body["RequestId"].as_str().expect("RequestId in body");
        assert!(!id.is_empty());
        assert_eq!(
            r.headers
                .get("x-acs-request-id")
                .and_then(|v| v.to_str().ok()),
            Some(id),
            "x-acs-request-id header must equal the body's RequestId"
        );
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json;charset=utf-8")
        );
    }
    assert_ne!(ok.body["RequestId"], refused.body["RequestId"]);
    // The POP error shape every SDK parses.
    for field in ["HostId", "Code", "Message", "Recommend"] {
        assert!(
            refused.body[field].is_string(),
            "{field} missing: {}",
            refused.body
        );
    }
}

#[tokio::test]
async fn malformed_requests_are_refused_with_400_never_500() {
    let mock = Mock::start().await;
    let url = format!("{}/?PageSize=1", mock.server.endpoint);
    let http = mock.client.http();
    let plain = || {
        http.post(&url)
            .header("x-acs-action", "ListKmsInstances")
            .header("x-acs-version", mockcloud::api::KMS_VERSION)
    };

    // Not a signature scheme the gateway knows.
    let r = send(plain().header("authorization", "Bearer garbage")).await;
    r.assert_error(400, "InvalidParameter");
    assert!(r.message().contains("Authorization"), "{}", r.body);

    // ACS3 without its Credential, SignedHeaders and Signature.
    let r = send(plain().header("authorization", "ACS3-HMAC-SHA256 nonsense")).await;
    r.assert_error(400, "InvalidParameter");
    assert!(r.message().contains("Authorization"), "{}", r.body);

    // Bytes that are not UTF-8 in the Authorization header.
    let bad = HeaderValue::from_bytes(b"ACS3-HMAC-SHA256 Credential=\xff\xfe").unwrap();
    let r = send(plain().header("authorization", bad)).await;
    r.assert_error(400, "InvalidParameter");

    // No signature at all.
    let r = send(plain()).await;
    r.assert_error(400, "MissingParameter");
    assert!(r.message().contains("Signature"), "{}", r.body);

    // A date that is not a date.
    let mut req = Acs3::new(&mock, "ListKmsInstances", &[]);
    req.date = "yesterday".into();
    req.send(&mock).await.assert_error(400, "IllegalTimestamp");

    // A body whose hash is not the signed one.
    let req = Acs3::new(&mock, "ListKmsInstances", &[]);
    let r = send(
        req.request(&mock)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("PageSize=2"),
    )
    .await;
    r.assert_error(400, "InvalidParameter");
    assert!(r.message().contains("x-acs-content-sha256"), "{}", r.body);

    // A v1 request without its timestamp.
    let (mut params, _) = v1_params(&mock, "ListKmsInstances", DEFAULT_SECRET);
    params.retain(|(k, _)| k != "Timestamp");
    send_v1(&mock, &params)
        .await
        .assert_error(400, "IllegalTimestamp");

    // A query parameter added after signing.
    let req = Acs3::new(&mock, "ListKmsInstances", &[]);
    let r = send(req.request(&mock).query(&[("PageSize", "3")])).await;
    r.assert_error(400, "SignatureDoesNotMatch");

    // A query that is not valid percent-encoding, unsigned.
    let raw = format!("{}/?Page%ZZSize=%FF%FE&=&&", mock.server.endpoint);
    let r = send(http.post(raw).header("x-acs-action", "ListKmsInstances")).await;
    r.assert_error(400, "MissingParameter");
}

#[tokio::test]
async fn non_numeric_page_size_is_invalid_parameter_naming_it() {
    let mock = Mock::start().await;
    for bad in ["ten", "-1", "0", "101"] {
        let r = mock.kms("ListKmsInstances", &[("PageSize", bad)]).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "InvalidParameter"),
            "PageSize={bad}: {}",
            r.body
        );
        assert!(
            r.body["Message"].as_str().unwrap().contains("PageSize"),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn huge_page_number_gives_an_empty_page_not_a_dropped_connection() {
    let mock = Mock::start().await;
    mock.buy_visible(&Order::software(REGION)).await;
    let last = u32::MAX.to_string();

    let r = mock
        .kms(
            "ListKmsInstances",
            &[("PageNumber", &last), ("PageSize", "100")],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["TotalCount"], 1);
    assert!(listed_ids(&r.body).is_empty(), "{}", r.body);

    let r = mock
        .bss(
            "QueryAvailableInstances",
            &[
                ("ProductCode", "kms"),
                ("PageNum", &last),
                ("PageSize", "300"),
            ],
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["Data"]["TotalCount"], 1);
    assert_eq!(r.body["Data"]["InstanceList"], serde_json::json!([]));

    let r = mock
        .client
        .call(
            mockcloud::api::VPC_VERSION,
            "DescribeVSwitches",
            &[("PageNumber", &last), ("PageSize", "50")],
        )
        .await
        .unwrap();
    assert_ok(&r);
    assert_eq!(r.body["VSwitches"]["VSwitch"], serde_json::json!([]));
}

#[tokio::test]
async fn acs3_request_not_signing_its_nonce_or_date_is_refused() {
    let mock = Mock::start().await;
    for header in ["x-acs-signature-nonce", "x-acs-date"] {
        let mut req = Acs3::new(&mock, "ListKmsInstances", &[]);
        req.unsigned = Some(header);
        let r = req.send(&mock).await;
        r.assert_error(400, "InvalidParameter");
        let message = r.body["Message"].as_str().unwrap_or_default();
        assert!(
            message.contains("SignedHeaders") && message.contains(header),
            "{message}"
        );
    }
}

#[tokio::test]
async fn clock_advance_refuses_overflowing_amounts() {
    let mock = Mock::start().await;
    let url = format!(
        "{}/_mock/clock/advance?seconds={}",
        mock.server.endpoint,
        i64::MAX / 10
    );
    let resp = mock.client.http().post(url).send().await.expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
}
