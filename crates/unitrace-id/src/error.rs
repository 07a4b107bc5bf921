use thiserror::Error;

/// Every way an identifier can be wrong. Messages name the failing part and say why, e.g.
/// `AI (01): check digit should be 2, found 3`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// A problem with one Application Identifier's value.
    #[error("AI ({ai}): {msg}")]
    Ai { ai: String, msg: String },
    /// A problem with the overall structure of the input.
    #[error("{0}")]
    Syntax(String),
}

impl IdError {
    pub fn ai(ai: impl Into<String>, msg: impl Into<String>) -> Self {
        IdError::Ai {
            ai: ai.into(),
            msg: msg.into(),
        }
    }
    pub fn syntax(msg: impl Into<String>) -> Self {
        IdError::Syntax(msg.into())
    }
}
