//! Routes of serial provisioning, verification, alerts and decommissioning (`unitrace-ops`).

use axum::Router;

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
