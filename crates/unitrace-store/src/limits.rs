//! Limits on everything that grows. Input over a limit is rejected with a clear error.

/// Events in one capture request.
pub const MAX_EVENTS_PER_CAPTURE: usize = 50_000;
/// Identifiers (all roles) in one event.
pub const MAX_EPCS_PER_EVENT: usize = 20_000;
/// Identifiers (all events) in one capture request.
pub const MAX_EPCS_PER_CAPTURE: usize = 2_000_000;
/// Entries in any other list of one event (quantities, transactions, sensor reports, ...).
pub const MAX_LIST_LEN: usize = 10_000;
/// Bytes of one identifier (EPC, hash ID, eventID, location, ...).
pub const MAX_ID_LEN: usize = 1_024;
/// Bytes of one free-text field.
pub const MAX_TEXT_LEN: usize = 8_192;
/// Bytes of one event's stored JSON document.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of free master-data attributes.
pub const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;
/// Values in one query parameter.
pub const MAX_QUERY_VALUES: usize = 1_000;
/// Events in one page of a query answer.
pub const MAX_PER_PAGE: u32 = 10_000;
/// Default page size when none is given.
pub const DEFAULT_PER_PAGE: u32 = 1_000;
/// Lifetime of a nextPageToken.
pub const PAGE_TOKEN_TTL_MS: i64 = 60 * 60 * 1000;
/// Depth of containment walked by timeline / containment tree.
pub const MAX_CONTAINMENT_DEPTH: usize = 16;
/// Nodes returned by one containment tree.
pub const MAX_CONTAINMENT_NODES: usize = 100_000;
/// Events of one timeline.
pub const MAX_TIMELINE_EVENTS: usize = 100_000;
/// Units of one list_units answer.
pub const MAX_LIST_UNITS: u32 = 100_000;
/// Location IDs of one `list_event_locations` answer.
pub const MAX_LOCATION_PAGE: usize = 10_000;
/// Rows (events naming it, or emptyings of its parents) read to replay one unit's state.
pub const MAX_UNIT_HISTORY: usize = 1_000_000;
/// Capture requests merged into one group commit.
pub const MAX_GROUP_REQUESTS: usize = 256;
/// Events merged into one group commit (a single larger request still commits alone).
pub const MAX_GROUP_EVENTS: usize = 20_000;

/// Earliest accepted event time: 0001-01-01T00:00:00Z.
pub const MIN_TIME_MS: i64 = -62_135_596_800_000;
/// Latest accepted event time: 9999-12-31T23:59:59.999Z.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Bytes of one record body or record item body.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Records or record items returned by one list call.
pub const MAX_RECORD_PAGE: usize = 10_000;
/// Record items, or serials, written or read by one call.
pub const MAX_RECORD_ITEMS_PER_CALL: usize = 10_000;

/// Units asked about in one [`crate::Store::event_heads`] call.
pub const MAX_HEAD_UNITS: usize = 1_000;
/// Event heads returned per unit by one [`crate::Store::event_heads`] call (the latest ones).
pub const MAX_HEADS_PER_UNIT: usize = 1_000;
