//! The `/_mock/` test-control surface: health and the simulated clock. Unsigned, loopback use
//! only; the provider never calls it.

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
        Err(e) => (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            Json(json!({"error": e.code(), "message": e.message()})),
        )
            .into_response(),
    }
}
