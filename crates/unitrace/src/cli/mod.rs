//! The CLI verbs, one module each.

pub mod bench;
pub mod epcis;
pub mod id;
pub mod ops_a;
pub mod ops_b;
pub mod serve;
