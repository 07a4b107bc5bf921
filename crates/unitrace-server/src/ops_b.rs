//! Routes of receiving, cycle counts and recalls (`unitrace-ops`).

use axum::Router;

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}

/// Background work of these operations, run beside the server until `stop` turns true.
pub(crate) async fn background(_state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
