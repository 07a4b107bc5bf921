//! Health, readiness, metrics, our OpenAPI document and its browsable page (embedded assets).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use unitrace_store::UnitFilter;

use crate::problem::ApiError;
use crate::{lock, AppState};

const OPENAPI: &str = include_str!("../assets/openapi.json");
/// Paths of the operations routes, kept beside their modules' owners and merged at first use.
const OPENAPI_PARTS: [&str; 2] = [
    include_str!("../assets/openapi-ops-a.json"),
    include_str!("../assets/openapi-ops-b.json"),
];

/// Our OpenAPI document: the main one with the `paths` (and `components.schemas`) of the parts.
fn openapi_document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc: serde_json::Value =
            serde_json::from_str(OPENAPI).unwrap_or_else(|_| json!({}));
        for part in OPENAPI_PARTS {
            let Ok(part) = serde_json::from_str::<serde_json::Value>(part) else {
                continue;
            };
            for key in ["paths", "components/schemas"] {
                let (Some(from), Some(into)) = (
                    part.pointer(&format!("/{key}")).and_then(|v| v.as_object()),
                    doc.pointer_mut(&format!("/{key}"))
                        .and_then(|v| v.as_object_mut()),
                ) else {
                    continue;
                };
                for (k, v) in from {
                    into.insert(k.clone(), v.clone());
                }
            }
        }
        doc.to_string()
    })
}
const DOCS: &str = include_str!("../assets/docs.html");

/// `GET /`: the top-level resources as GS1's binding lists them, with our own entry points.
pub async fn root() -> Response {
    let mut v = crate::epcis::collection(&crate::epcis::TOP_LEVEL);
    v["name"] = json!("unitrace");
    v["version"] = json!(env!("CARGO_PKG_VERSION"));
    v["docs"] = json!("/docs");
    v["openapi"] = json!("/openapi.json");
    v["items"] = json!("/items");
    let mut r = ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response();
    crate::add_gs1_headers(r.headers_mut());
    r
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
    use std::fmt::Write;
    crate::metrics::refresh_stats(&state).await;
    let mut text = state.metrics.render(state.jobs.pending());
    let now = crate::now_ms();
    match crate::subs::all_subscriptions(&state).await {
        Ok(subs) => {
            let failing = subs.iter().filter(|(_, s)| s.failures > 0).count();
            let _ = writeln!(
                text,
                "# HELP unitrace_subscriptions Webhook subscriptions.\n# TYPE unitrace_subscriptions gauge\nunitrace_subscriptions {}\n# HELP unitrace_subscriptions_failing Subscriptions whose last delivery failed.\n# TYPE unitrace_subscriptions_failing gauge\nunitrace_subscriptions_failing {failing}",
                subs.len()
            );
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the subscriptions"),
    }
    let lag = lock(&state.subs.lag).clone();
    let _ = writeln!(
        text,
        "# HELP unitrace_subscription_lag_seconds Age of the oldest event a subscription has not delivered yet (0 when it is caught up), as this node last saw it.\n# TYPE unitrace_subscription_lag_seconds gauge"
    );
    for (id, l) in &lag {
        let age = l.oldest_pending.map_or(0, |t| (now - t).max(0));
        let _ = writeln!(
            text,
            "unitrace_subscription_lag_seconds{{subscription=\"{id}\"}} {}",
            age as f64 / 1000.0
        );
    }
    let _ = writeln!(
        text,
        "# HELP unitrace_subscription_pending_events Events a subscription has not delivered yet (counted up to one delivery, 500), as this node last saw it.\n# TYPE unitrace_subscription_pending_events gauge"
    );
    for (id, l) in &lag {
        let _ = writeln!(
            text,
            "unitrace_subscription_pending_events{{subscription=\"{id}\"}} {}",
            l.pending
        );
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}

pub async fn docs() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], DOCS).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_parts_are_json_with_paths() {
        for part in OPENAPI_PARTS {
            let v: serde_json::Value = serde_json::from_str(part).expect("part is JSON");
            assert!(v["paths"].is_object(), "part has no paths object");
        }
        let doc: serde_json::Value = serde_json::from_str(openapi_document()).expect("JSON");
        assert!(doc["paths"]["/events"].is_object());
    }
}
