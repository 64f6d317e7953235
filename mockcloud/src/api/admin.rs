//! The `/_mock/` test-control surface: health, the simulated clock, faults, PrivateZone, HSM
//! clusters, and the public domain names and VPC endpoint services of XKI proxies. Unsigned,
//! loopback use only; the provider never calls it.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::backend::Faults;
use crate::clock::iso;
use crate::domain::hsm::HsmCluster;
use crate::error::ApiError;
use crate::pki::DEFAULT_P12_PASSWORD;
use crate::world::{EndpointServiceSpec, HsmClusterSpec, XkiDomainSpec};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(health))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route(
            "/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route(
            "/accounts/{account_id}/private-zone",
            post(activate_private_zone),
        )
        .route(
            "/hsm-clusters",
            get(list_hsm_clusters).post(add_hsm_cluster),
        )
        .route("/hsm-clusters/{cluster_id}/hsms", post(add_hsm))
        .route(
            "/hsm-clusters/{cluster_id}/certificates",
            post(hsm_certificates),
        )
        .route("/xki/domains", get(list_xki_domains).post(put_xki_domain))
        .route(
            "/endpoint-services",
            get(list_endpoint_services).post(put_endpoint_service),
        )
}

async fn list_xki_domains(State(s): State<Arc<AppState>>) -> Response {
    match s.backend.xki_domains() {
        Ok(all) => Json(json!({ "xki_domains": all })).into_response(),
        Err(e) => error(e),
    }
}

/// Adds a public domain name of an XKI proxy, or moves it: `{"name", "address"}`.
async fn put_xki_domain(State(s): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let spec: XkiDomainSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return bad_body("an {\"name\", \"address\"} object", e),
    };
    match s.backend.put_xki_domain(&spec) {
        Ok(d) => Json(d).into_response(),
        Err(e) => error(e),
    }
}

async fn list_endpoint_services(State(s): State<Arc<AppState>>) -> Response {
    match s.backend.endpoint_services() {
        Ok(all) => Json(json!({ "endpoint_services": all })).into_response(),
        Err(e) => error(e),
    }
}

/// Adds or replaces a VPC endpoint service: an object with the fields of a world file's
/// `[[endpoint_services]]`.
async fn put_endpoint_service(State(s): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let spec: EndpointServiceSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return bad_body("an endpoint service object", e),
    };
    match s.backend.put_endpoint_service(&spec) {
        Ok(svc) => Json(svc).into_response(),
        Err(e) => error(e),
    }
}

fn error(e: ApiError) -> Response {
    (
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        Json(json!({"error": e.code(), "message": e.message()})),
    )
        .into_response()
}

fn bad_body(what: &str, e: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": format!("not {what}: {e}")})),
    )
        .into_response()
}

/// A cluster as the admin API shows it: the world file's fields (without the operator
/// password), its HSM count and its CA.
fn cluster_json(c: &HsmCluster) -> serde_json::Value {
    json!({
        "id": c.id,
        "account": c.account_id,
        "region": c.region_id,
        "mainland": c.mainland,
        "vendor": c.vendor,
        "vpc": c.vpc_id,
        "vswitches": c.vswitch_ids,
        "certificate_mode": c.certificate_mode,
        "sync": c.sync,
        "hsms": c.hsms,
        "ca_pem": c.ca_pem,
    })
}

async fn list_hsm_clusters(State(s): State<Arc<AppState>>) -> Response {
    match s.backend.hsm_clusters() {
        Ok(all) => Json(json!({"hsm_clusters": all.iter().map(cluster_json).collect::<Vec<_>>()}))
            .into_response(),
        Err(e) => error(e),
    }
}

/// Adds a cluster: a JSON object with the fields of a world file's `[[hsm_clusters]]`.
async fn add_hsm_cluster(State(s): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let spec: HsmClusterSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return bad_body("an HSM cluster object", e),
    };
    match s.backend.add_hsm_cluster(&spec) {
        Ok(c) => Json(cluster_json(&c)).into_response(),
        Err(e) => error(e),
    }
}

/// One more HSM in the cluster (S34).
async fn add_hsm(State(s): State<Arc<AppState>>, Path(cluster_id): Path<String>) -> Response {
    match s.backend.add_hsm(&cluster_id) {
        Ok(c) => Json(json!({"id": c.id, "hsms": c.hsms, "sync": c.sync})).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CertificateRequest {
    password: Option<String>,
}

/// A client certificate set like the real generation tool's: `client.p12` (base64) protected
/// by `password` (default `12345678`) and the cluster's CA as the security domain certificate
/// (mainland) and the cluster owner certificate (international).
async fn hsm_certificates(
    State(s): State<Arc<AppState>>,
    Path(cluster_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let req: CertificateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CertificateRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return bad_body("a {\"password\"} object", e),
        }
    };
    let password = req.password.as_deref().unwrap_or(DEFAULT_P12_PASSWORD);
    match s.backend.hsm_certificates(&cluster_id, password) {
        Ok(set) => {
            use base64::Engine;
            Json(json!({
                "cluster_id": cluster_id,
                "client_p12_base64": base64::engine::general_purpose::STANDARD.encode(&set.client_p12),
                "password": set.password,
                "security_domain_ca_pem": set.ca_pem,
                "cluster_owner_certificate_pem": set.ca_pem,
            }))
            .into_response()
        }
        Err(e) => error(e),
    }
}

async fn health() -> Response {
    Json(json!({"status": "ok", "service": "mockcloud", "version": env!("CARGO_PKG_VERSION")}))
        .into_response()
}

async fn clock(State(s): State<Arc<AppState>>) -> Response {
    let now = s.backend.now();
    Json(json!({"now": iso(now), "now_ms": now, "time_scale": s.backend.time_scale()}))
        .into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: Option<i64>,
    minutes: Option<i64>,
}

async fn advance(State(s): State<Arc<AppState>>, Query(q): Query<Advance>) -> Response {
    let ms = q
        .seconds
        .unwrap_or(0)
        .checked_mul(1000)
        .zip(q.minutes.unwrap_or(0).checked_mul(60_000))
        .and_then(|(a, b)| a.checked_add(b))
        .filter(|ms| *ms < 100 * 365 * 24 * 3_600_000)
        .unwrap_or(-1);
    if ms <= 0 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "give ?seconds=N or ?minutes=N: a positive amount under 100 years"})),
        )
            .into_response();
    }
    match s.backend.advance_clock(ms) {
        Ok(now) => Json(json!({"now": iso(now), "now_ms": now, "advanced_ms": ms})).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.code()})),
        )
            .into_response(),
    }
}

async fn get_faults(State(s): State<Arc<AppState>>) -> Response {
    Json(s.backend.faults()).into_response()
}

/// Arms faults: `{"connect_error": "reason"}`, `{"stay_connecting": true}`, `{"throttle": N}`,
/// `{"server_error": N}`, `{"lose_response": N}`, `{"latency_ms": M}`; what is left out is
/// cleared.
async fn put_faults(State(s): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            s.backend.set_faults(f.clone());
            Json(f).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("not a faults object: {e}")})),
        )
            .into_response(),
    }
}

async fn clear_faults(State(s): State<Arc<AppState>>) -> Response {
    s.backend.set_faults(Faults::default());
    Json(Faults::default()).into_response()
}

async fn activate_private_zone(
    State(s): State<Arc<AppState>>,
    Path(account_id): Path<String>,
) -> Response {
    match s.backend.activate_private_zone(&account_id) {
        Ok(()) => {
            Json(json!({"account_id": account_id, "private_zone_activated": true})).into_response()
        }
        Err(e) => error(e),
    }
}
