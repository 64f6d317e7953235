//! A small signing client for tests of the mock and for the acceptance harness: ACS3-signed
//! OpenAPI calls and plain `/_mock/` admin calls. Not used by the provider, which has its own.

use serde_json::Value;

use crate::sign;

pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    access_key_id: String,
    access_key_secret: String,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// Response headers (`x-acs-request-id`, `x-acs-retry-after`, ...).
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("")
    }
}

impl Client {
    pub fn new(
        endpoint: &str,
        ca_pem: &str,
        access_key_id: &str,
        access_key_secret: &str,
    ) -> anyhow::Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false);
        if !ca_pem.is_empty() {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?);
        }
        Ok(Client {
            http: b.build()?,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            access_key_id: access_key_id.to_string(),
            access_key_secret: access_key_secret.to_string(),
        })
    }

    /// The same endpoint with other credentials.
    pub fn with_keys(&self, access_key_id: &str, access_key_secret: &str) -> Client {
        Client {
            http: self.http.clone(),
            endpoint: self.endpoint.clone(),
            access_key_id: access_key_id.to_string(),
            access_key_secret: access_key_secret.to_string(),
        }
    }

    pub async fn kms(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<Reply> {
        self.call(crate::api::KMS_VERSION, action, params).await
    }

    pub async fn bss(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<Reply> {
        self.call(crate::api::BSS_VERSION, action, params).await
    }

    /// An ACS3-HMAC-SHA256 signed `POST /` with every parameter in the query.
    pub async fn call(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        self.call_with_form(version, action, params, &[]).await
    }

    /// An ACS3-HMAC-SHA256 signed `POST /` with `params` in the query and `form` in an
    /// `application/x-www-form-urlencoded` body (as SDKs send secrets and long values).
    pub async fn call_with_form(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = if form.is_empty() {
            String::new()
        } else {
            let mut enc = form_urlencoded::Serializer::new(String::new());
            for (k, v) in form {
                enc.append_pair(k, v);
            }
            enc.finish()
        };
        let content_sha256 = if body.is_empty() {
            sign::EMPTY_SHA256.to_string()
        } else {
            sign::sha256_hex(body.as_bytes())
        };
        let query = sign::canonical_query(&pairs);
        let url = format!("{}/?{query}", self.endpoint);
        let host = url::Host::parse_from(&self.endpoint);
        let date = time::OffsetDateTime::now_utc().format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))?;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let headers = vec![
            ("accept".to_string(), "application/json".to_string()),
            ("host".to_string(), host),
            ("x-acs-action".to_string(), action.to_string()),
            ("x-acs-content-sha256".to_string(), content_sha256.clone()),
            ("x-acs-date".to_string(), date),
            ("x-acs-signature-nonce".to_string(), nonce),
            ("x-acs-version".to_string(), version.to_string()),
        ];
        let signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        let signed = signed.join(";");
        let (_, sts) =
            sign::acs3_string_to_sign("POST", "/", &pairs, &headers, &signed, &content_sha256);
        let signature = sign::acs3_signature(&self.access_key_secret, &sts);
        let mut req = self.http.post(url);
        for (n, v) in headers.iter().filter(|(n, _)| n != "host") {
            req = req.header(n, v);
        }
        req = req.header(
            "authorization",
            format!(
                "{} Credential={},SignedHeaders={signed},Signature={signature}",
                sign::ACS3_ALGORITHM,
                self.access_key_id
            ),
        );
        if !body.is_empty() {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body: Value = resp.json().await?;
        Ok(Reply {
            status,
            body,
            headers,
        })
    }

    pub async fn admin_post(&self, path_and_query: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .post(format!("{}{path_and_query}", self.endpoint))
            .send()
            .await?
            .json()
            .await?)
    }

    /// A `/_mock/` POST with a JSON body; the status comes back with the answer.
    pub async fn admin_post_json(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .http
            .post(format!("{}{path}", self.endpoint))
            .json(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await?))
    }

    pub async fn admin_get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.endpoint))
            .send()
            .await?
            .json()
            .await?)
    }

    /// A raw request, for tests of the protocol edge.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

mod url {
    pub struct Host;
    impl Host {
        /// `https://127.0.0.1:9443` -> `127.0.0.1:9443`, the Host header reqwest will send.
        pub fn parse_from(endpoint: &str) -> String {
            let rest = endpoint
                .split_once("://")
                .map(|(_, r)| r)
                .unwrap_or(endpoint);
            rest.split('/').next().unwrap_or(rest).to_string()
        }
    }
}
