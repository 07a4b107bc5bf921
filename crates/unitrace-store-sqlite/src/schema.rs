//! SQLite schema and its migrations (run at open; `PRAGMA user_version` is the schema version).

use rusqlite::Connection;
use unitrace_store::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[
    // 1: events, their index rows, unit state, class stock, master data.
    r#"
CREATE TABLE event (
    seq INTEGER PRIMARY KEY,
    hash_id TEXT NOT NULL,
    event_id TEXT,
    event_type INTEGER NOT NULL,
    event_time INTEGER NOT NULL,
    tz_offset TEXT NOT NULL,
    record_time INTEGER NOT NULL,
    action INTEGER,
    biz_step TEXT,
    disposition TEXT,
    read_point TEXT,
    biz_location TEXT,
    transformation_id TEXT,
    parent_id TEXT,
    empty_delete INTEGER NOT NULL,
    pdisp_set TEXT,
    pdisp_unset TEXT,
    ilmd_lot TEXT,
    ilmd_expiry TEXT,
    err_time INTEGER,
    err_reason TEXT,
    document TEXT NOT NULL
);
CREATE UNIQUE INDEX event_hash ON event(hash_id);
CREATE UNIQUE INDEX event_eid ON event(event_id) WHERE event_id IS NOT NULL;
CREATE INDEX event_etime ON event(event_time);
CREATE INDEX event_rtime ON event(record_time);
CREATE INDEX event_bizloc ON event(biz_location) WHERE biz_location IS NOT NULL;

CREATE TABLE event_epc (
    epc TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    event_seq INTEGER NOT NULL,
    role INTEGER NOT NULL,
    PRIMARY KEY (epc, event_time, event_seq, role)
) WITHOUT ROWID;

CREATE TABLE event_quantity (
    event_seq INTEGER NOT NULL,
    role INTEGER NOT NULL,
    epc_class TEXT NOT NULL,
    quantity REAL,
    uom TEXT,
    base_uom TEXT,
    b_quantity REAL
);
CREATE INDEX event_quantity_seq ON event_quantity(event_seq);
CREATE INDEX event_quantity_class ON event_quantity(epc_class);

CREATE TABLE event_pdisp (event_seq INTEGER NOT NULL, op INTEGER NOT NULL, value TEXT NOT NULL);
CREATE INDEX event_pdisp_value ON event_pdisp(value, op);

CREATE TABLE event_biztx (event_seq INTEGER NOT NULL, kind INTEGER NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX event_biztx_value ON event_biztx(value, kind, type);

CREATE TABLE event_corrective (event_seq INTEGER NOT NULL, event_id TEXT NOT NULL);
CREATE INDEX event_corrective_id ON event_corrective(event_id);

CREATE TABLE event_sensor (
    event_seq INTEGER NOT NULL,
    type TEXT,
    device_id TEXT,
    value REAL,
    min_value REAL,
    max_value REAL,
    mean_value REAL,
    uom TEXT,
    base_uom TEXT,
    b_value REAL,
    b_min REAL,
    b_max REAL,
    b_mean REAL,
    time INTEGER
);
CREATE INDEX event_sensor_seq ON event_sensor(event_seq);

CREATE TABLE event_field (
    event_seq INTEGER NOT NULL,
    scope INTEGER NOT NULL,
    inner_field INTEGER NOT NULL,
    name TEXT NOT NULL,
    text_value TEXT,
    num_value REAL
);
CREATE INDEX event_field_name ON event_field(name, scope, inner_field, text_value);

CREATE TABLE unit_state (
    epc TEXT PRIMARY KEY,
    commissioned_at INTEGER,
    commissioned_where TEXT,
    commissioned_by_step INTEGER NOT NULL,
    last_event_time INTEGER NOT NULL,
    last_event_seq INTEGER NOT NULL,
    biz_location TEXT,
    read_point TEXT,
    disposition TEXT,
    pdisps TEXT,
    lot TEXT,
    expiry TEXT,
    parent TEXT,
    parent_since_time INTEGER,
    parent_since_seq INTEGER,
    location_time INTEGER
) WITHOUT ROWID;
CREATE INDEX unit_state_parent ON unit_state(parent) WHERE parent IS NOT NULL;
CREATE INDEX unit_state_lot ON unit_state(lot) WHERE lot IS NOT NULL;
CREATE INDEX unit_state_bizloc ON unit_state(biz_location) WHERE biz_location IS NOT NULL;

CREATE TABLE class_stock (
    epc_class TEXT NOT NULL,
    location TEXT NOT NULL,
    uom TEXT NOT NULL,
    quantity REAL NOT NULL,
    PRIMARY KEY (epc_class, location, uom)
) WITHOUT ROWID;

CREATE TABLE location (
    id TEXT PRIMARY KEY,
    name TEXT,
    parent_id TEXT,
    latitude REAL,
    longitude REAL,
    attributes TEXT
) WITHOUT ROWID;
CREATE INDEX location_parent ON location(parent_id);

CREATE TABLE product (
    gtin TEXT PRIMARY KEY,
    name TEXT,
    owner TEXT,
    warranty TEXT,
    temp_min REAL,
    temp_max REAL,
    attributes TEXT
) WITHOUT ROWID;

CREATE TABLE party (
    gln TEXT PRIMARY KEY,
    name TEXT,
    attributes TEXT
) WITHOUT ROWID;
"#,
    // 2: durable records of workflows, their items, counters and serial claims.
    r#"
CREATE TABLE record (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

CREATE TABLE record_item (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    item TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key, item)
) WITHOUT ROWID;

CREATE TABLE counter (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE serial_claim (
    gtin TEXT NOT NULL,
    serial TEXT NOT NULL,
    allocation TEXT NOT NULL,
    PRIMARY KEY (gtin, serial)
) WITHOUT ROWID;
"#,
    // 3: readPoints of events listed in order (bizLocations use event_bizloc).
    r#"
CREATE INDEX event_readpoint ON event(read_point) WHERE read_point IS NOT NULL;
"#,
    // 4: sensorMetadata startTime/endTime per sensor element (GE_/LT_startTime, GE_/LT_endTime),
    // filled in from the stored documents of earlier events.
    r#"
CREATE TABLE event_sensor_period (event_seq INTEGER NOT NULL, start_time INTEGER, end_time INTEGER);
CREATE INDEX event_sensor_period_seq ON event_sensor_period(event_seq);
CREATE INDEX event_sensor_period_start ON event_sensor_period(start_time) WHERE start_time IS NOT NULL;
CREATE INDEX event_sensor_period_end ON event_sensor_period(end_time) WHERE end_time IS NOT NULL;
INSERT INTO event_sensor_period (event_seq, start_time, end_time)
SELECT seq, CAST(round(unixepoch(st, 'subsec') * 1000) AS INTEGER), CAST(round(unixepoch(et, 'subsec') * 1000) AS INTEGER)
FROM (SELECT e.seq AS seq, json_extract(se.value, '$.sensorMetadata.startTime') AS st,
             json_extract(se.value, '$.sensorMetadata.endTime') AS et
      FROM event e, json_each(e.document, '$.sensorElementList') se
      WHERE e.document LIKE '%sensorElementList%' AND json_type(se.value, '$.sensorMetadata') = 'object')
WHERE st IS NOT NULL OR et IS NOT NULL;
"#,
];

/// Settings of a connection that writes (the store's writer and the benchmark ceiling alike):
/// a 64 MiB page cache that holds the upper levels of the big B-trees (unit_state, event_epc) at
/// tens of millions of rows, instead of SQLite's default 2 MiB (not more: the server's memory
/// budget is 200 MB); temporary B-trees in memory.
pub(crate) const WRITER_PRAGMAS: &str = "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;";

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The schema version this build writes.
pub(crate) const LATEST: usize = MIGRATIONS.len();

/// Bring the schema up to `target` (at most [`LATEST`]; tests of upgrades stop earlier); refuse
/// a database written by a newer version.
pub(crate) fn migrate(conn: &mut Connection, target: usize) -> StoreResult<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Unavailable(format!(
            "database schema version {version} is newer than this build knows ({known})"
        )));
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target)
        .skip(version as usize)
    {
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute_batch(sql).map_err(db_err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
    }
    Ok(())
}
