//! Health, readiness, metrics, our OpenAPI document and its browsable page (embedded assets).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use unitrace_store::UnitFilter;

use crate::problem::ApiError;
use crate::{lock, AppState};

const OPENAPI: &str = include_str!("../assets/openapi.json");
const DOCS: &str = include_str!("../assets/docs.html");

pub async fn root() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({
            "name": "unitrace",
            "version": env!("CARGO_PKG_VERSION"),
            "docs": "/docs",
            "openapi": "/openapi.json",
            "events": "/events",
            "items": "/items",
        })
        .to_string(),
    )
        .into_response()
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store answers a read.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let probe = UnitFilter {
        limit: Some(1),
        ..Default::default()
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        state.store.list_units(&probe),
    )
    .await
    {
        Ok(Ok(_)) => "ready\n".into_response(),
        Ok(Err(e)) => ApiError::unavailable(format!("store not ready: {e}")).into_response(),
        Err(_) => ApiError::unavailable("store did not answer within 5 s").into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let depth = lock(&state.jobs.table)
        .values()
        .filter(|j| j.running)
        .count();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(depth),
    )
        .into_response()
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub async fn docs() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], DOCS).into_response()
}
