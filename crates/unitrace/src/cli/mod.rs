//! The CLI verbs, one module each.

pub mod id;
