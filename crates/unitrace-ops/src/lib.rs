//! Serialized-inventory operations on top of the event store: what companies serialize for.
//!
//! Every workflow keeps its own state as durable records ([`unitrace_store::RecordStore`]) and
//! writes its outcome as EPCIS events through the public capture path, with the CBV business step
//! and disposition of the standard, so that the trail of every unit stays complete and shareable.
//!
//! - [`emit`]: build and capture the EPCIS events of the workflows.
//! - [`serials`]: serial provisioning (sequential, pattern, random) and commissioning.
//! - [`verify`]: the product identifier check (verdicts) and its log.
//! - [`alerts`]: clone and impossible-state detection, kept as alerts.
//! - [`decommission`]: decommissioning and reactivation (EU FMD rules).
//! - [`receiving`]: receiving against an expected list, live reconciliation.
//! - [`counts`]: cycle counts and inventory accuracy over time.
//! - [`recalls`]: recall scope, hold, progress and export.

pub mod alerts;
pub mod counts;
pub mod decommission;
pub mod emit;
mod error;
pub mod recalls;
pub mod receiving;
pub mod serials;
pub mod verify;

pub use error::{OpsError, OpsResult};
