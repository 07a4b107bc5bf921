//! Serials, verification, alerts, decommissioning.
