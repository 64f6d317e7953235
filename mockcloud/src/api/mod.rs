//! The wire layer: the only code that knows HTTP requests and JSON shapes. Every OpenAPI action
//! has the same shape: decode parameters, call the backend method of the same name, encode.

pub mod admin;
pub mod auth;
pub mod bss;
pub mod keys;
pub mod kms;
pub mod params;
pub mod secrets;
pub mod vpc;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::backend::{Backend, Caller, RequestFault};
use crate::error::ApiError;
use auth::{NonceCache, SignedRequest};
use params::Params;

pub const KMS_VERSION: &str = "2016-01-20";
pub const BSS_VERSION: &str = "2017-12-14";
pub const VPC_VERSION: &str = "2016-04-28";

pub struct AppState {
    pub backend: Arc<Backend>,
    pub nonces: NonceCache,
    /// The CA chain clients trust; GetKmsInstance returns it as `CaCertificateChainPem`.
    pub ca_pem: String,
}

/// What an action handler sees: who calls, in which region, with which parameters.
pub struct Ctx<'a> {
    pub caller: Caller,
    pub region: Option<String>,
    pub params: Params,
    pub state: &'a AppState,
}

pub type Fields = Map<String, Value>;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .nest("/_mock", admin::router())
        .fallback(openapi)
        .with_state(state)
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

async fn openapi(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = request_id();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (action, mut result) = handle(&state, &method, &uri, &headers, &body);
    if result.is_ok() && state.backend.take_lost_response() {
        result = Err(ApiError::ServiceUnavailable);
    }
    let latency = state.backend.latency_ms();
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    match result {
        Ok(mut fields) => {
            tracing::debug!(action, "ok");
            fields.insert("RequestId".into(), Value::String(request_id.clone()));
            respond(StatusCode::OK, &request_id, Value::Object(fields))
        }
        Err(e) => {
            tracing::debug!(action, code = e.code(), "refused");
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let body = json!({
                "RequestId": request_id,
                "HostId": host,
                "Code": e.code(),
                "Message": e.message(),
                "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&requestId={}", e.code(), request_id),
                "HttpStatus": e.status(),
                "Success": false,
            });
            let mut resp = respond(status, &request_id, body);
            if let ApiError::Throttling {
                retry_after_ms: Some(ms),
            } = e
            {
                // tea-openapi turns a positive x-acs-retry-after (milliseconds) into a
                // ThrottlingException with that back-off.
                if let Ok(v) = HeaderValue::from_str(&ms.max(1).to_string()) {
                    resp.headers_mut().insert("x-acs-retry-after", v);
                }
            }
            resp
        }
    }
}

fn respond(status: StatusCode, request_id: &str, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-acs-request-id", v);
    }
    resp
}

fn decode(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn handle(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (String, Result<Fields, ApiError>) {
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let query = decode(uri.query().unwrap_or("").as_bytes());
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form { decode(body) } else { Vec::new() };
    let params = Params::collect(query.iter().chain(form.iter()));
    let header = |n: &str| {
        header_pairs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    let action = header("x-acs-action")
        .or_else(|| params.opt("Action").map(String::from))
        .unwrap_or_default();
    let version = header("x-acs-version")
        .or_else(|| params.opt("Version").map(String::from))
        .unwrap_or_default();

    let req = SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        headers: &header_pairs,
        query: &query,
        form: &form,
        body,
    };
    let result = (|| {
        let caller = auth::verify(&state.backend, &state.nonces, &req)?;
        match state.backend.take_request_fault().0 {
            Some(RequestFault::Throttle) => {
                return Err(ApiError::Throttling {
                    retry_after_ms: None,
                })
            }
            Some(RequestFault::ServerError) => return Err(ApiError::ServiceUnavailable),
            None => {}
        }
        if action.is_empty() {
            return Err(ApiError::missing("Action"));
        }
        let region = params
            .opt("RegionId")
            .map(String::from)
            .or_else(|| region_from_host(header("host").as_deref()));
        let ctx = Ctx {
            caller,
            region,
            params,
            state,
        };
        match version.as_str() {
            KMS_VERSION => kms::dispatch(&action, &ctx),
            BSS_VERSION => bss::dispatch(&action, &ctx),
            VPC_VERSION => vpc::dispatch(&action, &ctx),
            "" => Err(ApiError::missing("Version")),
            other => Err(ApiError::InvalidVersion {
                version: other.to_string(),
            }),
        }
    })();
    (action, result)
}

/// `kms.cn-hangzhou.aliyuncs.com` names its region, as real endpoints do.
fn region_from_host(host: Option<&str>) -> Option<String> {
    let host = host?.split(':').next()?;
    let rest = host.strip_suffix(".aliyuncs.com")?;
    let (_, region) = rest.split_once('.')?;
    Some(region.to_string())
}

/// Lists are wrapped the POP way: `{"KmsInstances": {"KmsInstance": [...]}}`.
pub fn wrapped(inner: &str, items: Vec<Value>) -> Value {
    json!({ inner: items })
}

/// One page of a list: `page_number` from 1.
pub fn page<T>(items: &[T], page_number: u32, page_size: u32) -> &[T] {
    let start = (page_number as usize - 1)
        .saturating_mul(page_size as usize)
        .min(items.len());
    let end = start.saturating_add(page_size as usize).min(items.len());
    &items[start..end]
}

pub fn unknown_action(action: &str) -> ApiError {
    ApiError::InvalidActionNotFound {
        action: action.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_comes_from_real_endpoint_names_only() {
        assert_eq!(
            region_from_host(Some("kms.cn-shanghai.aliyuncs.com")).as_deref(),
            Some("cn-shanghai")
        );
        assert_eq!(region_from_host(Some("127.0.0.1:9443")), None);
    }
}
