use thiserror::Error;

/// Backend-neutral store error.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The caller's input is unacceptable (bad query parameter, over a limit, bad master data).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A query would return more events than its `maxEventCount`.
    #[error("query too large: more than {limit} events match (maxEventCount)")]
    QueryTooLarge { limit: u64 },
    /// The `nextPageToken` is malformed, for another query, or expired.
    #[error("invalid page token: {0}")]
    InvalidPageToken(String),
    /// The database could not be reached or opened.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// Stored data could not be read back (corruption, or written by a newer version).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The thing already exists, or changed since it was read (records: optimistic concurrency).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The thing to update does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The store is shutting down or its writer has stopped.
    #[error("store closed")]
    Closed,
}

pub type StoreResult<T> = Result<T, StoreError>;
