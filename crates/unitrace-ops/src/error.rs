use thiserror::Error;
use unitrace_store::StoreError;

/// What went wrong in an operation. Every variant but `Store` is the caller's doing and maps to a
/// 4xx answer; the message names what is wrong and where.
#[derive(Debug, Error)]
pub enum OpsError {
    /// The request is malformed or breaks a rule (bad identifier, bad range, reactivation after
    /// 10 days, ...).
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for does not exist (session, recall, unit never seen).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (session already closed, serial taken, ...).
    #[error("{0}")]
    Conflict(String),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type OpsResult<T> = Result<T, OpsError>;
