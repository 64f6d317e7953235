//! The only code in the provider that knows HTTP: an Alibaba Cloud OpenAPI client that signs with
//! ACS3, retries throttling, 5xx and transport failures with backoff, and turns error responses
//! into [`ApiError`] carrying code, message and request id.

pub mod keys;
pub mod kms;
pub mod lookup;
pub mod sign;

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use sign::hex_sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    Kms,
    Bss,
    Vpc,
}

impl Product {
    fn version(self) -> &'static str {
        match self {
            Product::Kms => "2016-01-20",
            Product::Bss => "2017-12-14",
            Product::Vpc => "2016-04-28",
        }
    }
}

/// Connection settings, parsed from the provider block.
#[derive(Clone)]
pub struct Settings {
    pub kms_endpoint: String,
    pub bss_endpoint: String,
    pub vpc_endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub ca_pem: Option<String>,
    pub insecure: bool,
    pub max_retries: u32,
    pub retry_base: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("kms_endpoint", &self.kms_endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<sensitive>")
            .finish()
    }
}

/// An API call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The service answered with an error body.
    Api {
        action: String,
        status: u16,
        code: String,
        message: String,
        request_id: String,
    },
    /// No usable answer: connection, TLS or decoding failure.
    Transport { action: String, message: String },
}

impl ApiError {
    pub fn code(&self) -> &str {
        match self {
            ApiError::Api { code, .. } => code,
            ApiError::Transport { .. } => "",
        }
    }

    /// The one place that says an instance does not exist for the caller (or is not visible
    /// yet, S11).
    pub fn is_instance_not_found(&self) -> bool {
        self.code() == "Forbidden.DKMSInstanceNotFound"
    }

    fn retryable(&self) -> bool {
        match self {
            ApiError::Api { status, code, .. } => {
                *status >= 500
                    || code.starts_with("Throttling")
                    || code == "ServiceUnavailableTemporary"
                    || code == "InternalError"
            }
            ApiError::Transport { .. } => true,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Api {
                action,
                status,
                code,
                message,
                request_id,
            } => write!(
                f,
                "{action} returned {code} (HTTP {status}): {message}\nRequest id: {request_id}"
            ),
            ApiError::Transport { action, message } => {
                write!(f, "{action} could not reach the endpoint: {message}")
            }
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    settings: Settings,
}

impl Client {
    pub fn new(settings: Settings) -> Result<Client, String> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10));
        if let Some(pem) = &settings.ca_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| format!("the CA certificate is not valid PEM: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        if settings.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        let http = b
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client { http, settings })
    }

    fn endpoint(&self, product: Product) -> &str {
        match product {
            Product::Kms => &self.settings.kms_endpoint,
            Product::Bss => &self.settings.bss_endpoint,
            Product::Vpc => &self.settings.vpc_endpoint,
        }
    }

    /// Calls an action, retrying what is transient. Parameters go in the query of a `POST /`.
    pub async fn call(
        &self,
        product: Product,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Value, ApiError> {
        self.call_with_body(product, action, params, &[]).await
    }

    /// Like [`Client::call`], with `body` parameters in a form body, where the real API wants
    /// them (e.g. `SecretData`): secrets stay out of URLs and access logs.
    pub async fn call_with_body(
        &self,
        product: Product,
        action: &str,
        params: &[(String, String)],
        body: &[(String, String)],
    ) -> Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            match self.call_once(product, action, params, body).await {
                Err(e) if e.retryable() && attempt < self.settings.max_retries => {
                    let wait = self.settings.retry_base * 2u32.pow(attempt.min(6));
                    tracing::warn!(
                        "{action}: {} (attempt {}), retrying in {:?}",
                        e.code(),
                        attempt + 1,
                        wait
                    );
                    tokio::time::sleep(wait.min(Duration::from_secs(20))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once(
        &self,
        product: Product,
        action: &str,
        params: &[(String, String)],
        body: &[(String, String)],
    ) -> Result<Value, ApiError> {
        let transport = |message: String| ApiError::Transport {
            action: action.to_string(),
            message,
        };
        let base = self.endpoint(product).trim_end_matches('/');
        let query = sign::query_string(params);
        let url = reqwest::Url::parse(&format!("{base}/?{query}"))
            .map_err(|e| transport(format!("bad endpoint {base:?}: {e}")))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return Err(transport(format!("endpoint {base:?} has no host"))),
        };
        let date = time::OffsetDateTime::now_utc()
            .format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .map_err(|e| transport(e.to_string()))?;
        let form = if body.is_empty() {
            String::new()
        } else {
            sign::query_string(body)
        };
        let payload = hex_sha256(form.as_bytes());
        let mut headers = vec![
            ("accept".to_string(), "application/json".to_string()),
            ("host".to_string(), host),
            ("x-acs-action".to_string(), action.to_string()),
            ("x-acs-content-sha256".to_string(), payload.clone()),
            ("x-acs-date".to_string(), date),
            (
                "x-acs-signature-nonce".to_string(),
                uuid::Uuid::new_v4().simple().to_string(),
            ),
            ("x-acs-version".to_string(), product.version().to_string()),
        ];
        if !form.is_empty() {
            headers.push((
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ));
        }
        let auth = sign::authorization(
            &self.settings.access_key_id,
            &self.settings.access_key_secret,
            &query,
            &headers,
            &payload,
        );
        let mut req = self.http.post(url).header("authorization", auth).header(
            "user-agent",
            concat!("terraform-provider-kms/", env!("CARGO_PKG_VERSION")),
        );
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            req = req.header(k, v);
        }
        if !form.is_empty() {
            req = req.body(form);
        }
        tracing::debug!("calling {action}");
        let resp = req.send().await.map_err(|e| transport(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let header_request_id = resp
            .headers()
            .get("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let text = resp.text().await.map_err(|e| transport(e.to_string()))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) && body.is_object() {
            // BSS reports some failures inside a 200 with Success=false.
            if body.get("Success") != Some(&Value::Bool(false)) {
                return Ok(body);
            }
        }
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
        Err(ApiError::Api {
            action: action.to_string(),
            status,
            code: field("Code").unwrap_or_else(|| format!("HTTP{status}")),
            message: field("Message").unwrap_or_else(|| text.chars().take(300).collect()),
            request_id: field("RequestId")
                .or(header_request_id)
                .unwrap_or_else(|| "-".into()),
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    //! Error paths the mock cannot easily produce, against wiremock.
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{header, header_exists, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A client of a wiremock server, for the client modules' tests.
    pub(crate) fn client(uri: &str, retries: u32) -> Client {
        Client::new(Settings {
            kms_endpoint: uri.into(),
            bss_endpoint: uri.into(),
            vpc_endpoint: uri.into(),
            access_key_id: "ak".into(),
            access_key_secret: "sk".into(),
            ca_pem: None,
            insecure: false,
            max_retries: retries,
            retry_base: Duration::from_millis(1),
        })
        .unwrap()
    }

    fn error(status: u16, code: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(
            json!({"RequestId": "req-1", "Code": code, "Message": format!("{code} happened")}),
        )
    }

    #[tokio::test]
    async fn throttling_is_retried_until_success() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(error(400, "Throttling"))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(header("x-acs-action", "ListKmsInstances"))
            .and(header_exists("authorization"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"RequestId": "r", "TotalCount": 0})),
            )
            .mount(&server)
            .await;
        let body = client(&server.uri(), 5)
            .call(Product::Kms, "ListKmsInstances", &[])
            .await
            .unwrap();
        assert_eq!(body["TotalCount"], 0);
        assert_eq!(server.received_requests().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn server_errors_are_retried_then_reported_with_code_and_request_id() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(error(503, "ServiceUnavailableTemporary"))
            .mount(&server)
            .await;
        let err = client(&server.uri(), 2)
            .call(Product::Kms, "GetKmsInstance", &[])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ServiceUnavailableTemporary");
        let text = err.to_string();
        assert!(
            text.contains("GetKmsInstance") && text.contains("HTTP 503") && text.contains("req-1"),
            "{text}"
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            3,
            "one try and two retries"
        );
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(error(400, "InvalidParameter"))
            .mount(&server)
            .await;
        let err = client(&server.uri(), 5)
            .call(Product::Kms, "GetKmsInstance", &[])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidParameter");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn instance_not_found_maps_to_none_and_refund_of_gone_instance_succeeds() {
        let server = MockServer::start().await;
        Mock::given(header("x-acs-action", "GetKmsInstance"))
            .respond_with(error(403, "Forbidden.DKMSInstanceNotFound"))
            .mount(&server)
            .await;
        Mock::given(header("x-acs-action", "RefundInstance"))
            .respond_with(error(400, "ResourceNotExists"))
            .mount(&server)
            .await;
        let c = client(&server.uri(), 0);
        assert_eq!(c.find_kms_instance("kst-x").await.unwrap(), None);
        c.refund_instance("kst-x", "token").await.unwrap();
    }

    #[tokio::test]
    async fn bss_failure_inside_a_200_is_an_error() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"RequestId": "r2", "Success": false, "Code": "NotApplicable", "Message": "wrong site"})))
            .mount(&server)
            .await;
        let err = client(&server.uri(), 0)
            .call(Product::Bss, "CreateInstance", &[])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "NotApplicable");
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_a_transport_error_naming_the_action() {
        let err = client("http://127.0.0.1:1", 0)
            .call(Product::Kms, "GetKmsInstance", &[])
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Transport { .. }));
        assert!(
            err.to_string()
                .contains("GetKmsInstance could not reach the endpoint"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn settings_debug_never_shows_the_secret() {
        let s = format!("{:?}", client("http://x", 0).settings);
        assert!(!s.contains("\"sk\""), "{s}");
    }
}
