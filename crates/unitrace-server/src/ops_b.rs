//! Routes of receiving, cycle counts and recalls (`unitrace-ops`).

use axum::Router;

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
