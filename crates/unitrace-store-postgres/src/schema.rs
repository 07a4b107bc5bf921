//! PostgreSQL schema and its migrations, run at connect under an advisory lock so that several
//! unitrace nodes starting together migrate once.

use tokio_postgres::Client;
use unitrace_store::{StoreError, StoreResult};

/// Advisory lock key serializing migrations.
const MIGRATION_LOCK: i64 = 0x756e_6974_7261_6365; // "unitrace"

const MIGRATIONS: &[&str] = &[
    // 1: events, their index rows, unit state, class stock, master data.
    r#"
CREATE TABLE event (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash_id TEXT NOT NULL,
    event_id TEXT,
    event_type BIGINT NOT NULL,
    event_time BIGINT NOT NULL,
    tz_offset TEXT NOT NULL,
    record_time BIGINT NOT NULL,
    action BIGINT,
    biz_step TEXT,
    disposition TEXT,
    read_point TEXT,
    biz_location TEXT,
    transformation_id TEXT,
    parent_id TEXT,
    empty_delete BOOLEAN NOT NULL,
    pdisp_set TEXT,
    pdisp_unset TEXT,
    ilmd_lot TEXT,
    ilmd_expiry TEXT,
    err_time BIGINT,
    err_reason TEXT,
    document TEXT NOT NULL
);
CREATE UNIQUE INDEX event_hash ON event(hash_id);
CREATE UNIQUE INDEX event_eid ON event(event_id) WHERE event_id IS NOT NULL;
CREATE INDEX event_etime ON event(event_time);
CREATE INDEX event_rtime ON event(record_time);
CREATE INDEX event_bizloc ON event(biz_location) WHERE biz_location IS NOT NULL;

CREATE TABLE event_epc (
    epc TEXT COLLATE "C" NOT NULL,
    event_time BIGINT NOT NULL,
    event_seq BIGINT NOT NULL,
    role BIGINT NOT NULL,
    PRIMARY KEY (epc, event_time, event_seq, role)
);

CREATE TABLE event_quantity (
    event_seq BIGINT NOT NULL,
    role BIGINT NOT NULL,
    epc_class TEXT COLLATE "C" NOT NULL,
    quantity DOUBLE PRECISION,
    uom TEXT,
    base_uom TEXT,
    b_quantity DOUBLE PRECISION
);
CREATE INDEX event_quantity_seq ON event_quantity(event_seq);
CREATE INDEX event_quantity_class ON event_quantity(epc_class);

CREATE TABLE event_pdisp (event_seq BIGINT NOT NULL, op BIGINT NOT NULL, value TEXT NOT NULL);
CREATE INDEX event_pdisp_value ON event_pdisp(value, op);

CREATE TABLE event_biztx (event_seq BIGINT NOT NULL, kind BIGINT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX event_biztx_value ON event_biztx(value, kind, type);

CREATE TABLE event_corrective (event_seq BIGINT NOT NULL, event_id TEXT NOT NULL);
CREATE INDEX event_corrective_id ON event_corrective(event_id);

CREATE TABLE event_sensor (
    event_seq BIGINT NOT NULL,
    type TEXT,
    device_id TEXT,
    value DOUBLE PRECISION,
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    mean_value DOUBLE PRECISION,
    uom TEXT,
    base_uom TEXT,
    b_value DOUBLE PRECISION,
    b_min DOUBLE PRECISION,
    b_max DOUBLE PRECISION,
    b_mean DOUBLE PRECISION,
    time BIGINT
);
CREATE INDEX event_sensor_seq ON event_sensor(event_seq);

CREATE TABLE event_field (
    event_seq BIGINT NOT NULL,
    scope BIGINT NOT NULL,
    inner_field BIGINT NOT NULL,
    name TEXT NOT NULL,
    text_value TEXT,
    num_value DOUBLE PRECISION
);
CREATE INDEX event_field_name ON event_field(name, scope, inner_field, text_value);

CREATE TABLE unit_state (
    epc TEXT COLLATE "C" PRIMARY KEY,
    commissioned_at BIGINT,
    commissioned_where TEXT,
    commissioned_by_step BOOLEAN NOT NULL,
    last_event_time BIGINT NOT NULL,
    last_event_seq BIGINT NOT NULL,
    biz_location TEXT,
    read_point TEXT,
    disposition TEXT,
    pdisps TEXT,
    lot TEXT,
    expiry TEXT,
    parent TEXT COLLATE "C",
    parent_since_time BIGINT,
    parent_since_seq BIGINT,
    location_time BIGINT
);
CREATE INDEX unit_state_parent ON unit_state(parent, epc) WHERE parent IS NOT NULL;
CREATE INDEX unit_state_lot ON unit_state(lot) WHERE lot IS NOT NULL;
CREATE INDEX unit_state_bizloc ON unit_state(biz_location) WHERE biz_location IS NOT NULL;

CREATE TABLE class_stock (
    epc_class TEXT COLLATE "C" NOT NULL,
    location TEXT COLLATE "C" NOT NULL,
    uom TEXT COLLATE "C" NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (epc_class, location, uom)
);

CREATE TABLE location (
    id TEXT PRIMARY KEY,
    name TEXT,
    parent_id TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    attributes TEXT
);
CREATE INDEX location_parent ON location(parent_id);

CREATE TABLE product (
    gtin TEXT PRIMARY KEY,
    name TEXT,
    owner TEXT,
    warranty TEXT,
    temp_min DOUBLE PRECISION,
    temp_max DOUBLE PRECISION,
    attributes TEXT
);

CREATE TABLE party (
    gln TEXT PRIMARY KEY,
    name TEXT,
    attributes TEXT
);
"#,
    // 2: durable records of workflows, their items, counters and serial claims.
    r#"
CREATE TABLE record (
    kind TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE record_item (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    item TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key, item)
);

CREATE TABLE counter (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE serial_claim (
    gtin TEXT NOT NULL,
    serial TEXT NOT NULL,
    allocation TEXT NOT NULL,
    PRIMARY KEY (gtin, serial)
);
"#,
    // 3: bizLocations and readPoints of events listed in byte order (whatever the database's
    // collation), one index seek per distinct location.
    r#"
CREATE INDEX event_bizloc_c ON event (biz_location COLLATE "C") WHERE biz_location IS NOT NULL;
CREATE INDEX event_readpoint_c ON event (read_point COLLATE "C") WHERE read_point IS NOT NULL;
"#,
    // 4: sensorMetadata startTime/endTime per sensor element (GE_/LT_startTime, GE_/LT_endTime),
    // filled in from the stored documents of earlier events.
    r#"
CREATE TABLE event_sensor_period (event_seq BIGINT NOT NULL, start_time BIGINT, end_time BIGINT);
CREATE INDEX event_sensor_period_seq ON event_sensor_period(event_seq);
CREATE INDEX event_sensor_period_start ON event_sensor_period(start_time) WHERE start_time IS NOT NULL;
CREATE INDEX event_sensor_period_end ON event_sensor_period(end_time) WHERE end_time IS NOT NULL;
INSERT INTO event_sensor_period (event_seq, start_time, end_time)
SELECT seq, round(extract(epoch FROM st::timestamptz) * 1000)::bigint,
       round(extract(epoch FROM et::timestamptz) * 1000)::bigint
FROM (SELECT e.seq AS seq, se->'sensorMetadata'->>'startTime' AS st, se->'sensorMetadata'->>'endTime' AS et
      FROM event e,
           jsonb_array_elements(CASE WHEN jsonb_typeof(e.document::jsonb->'sensorElementList') = 'array'
                                     THEN e.document::jsonb->'sensorElementList' ELSE '[]'::jsonb END) se
      WHERE e.document LIKE '%sensorElementList%' AND jsonb_typeof(se->'sensorMetadata') = 'object') x
WHERE st IS NOT NULL OR et IS NOT NULL;
"#,
];

pub(crate) fn db_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Database(format!("{}: {}", d.code().code(), d.message())),
        None if e.is_closed() => StoreError::Unavailable(e.to_string()),
        None => StoreError::Database(e.to_string()),
    }
}

/// The schema version this build writes.
pub(crate) const LATEST: usize = MIGRATIONS.len();

/// Bring the schema up to `target` (at most [`LATEST`]; tests of upgrades stop earlier); refuse
/// a database written by a newer version.
pub(crate) async fn migrate(client: &mut Client, target: usize) -> StoreResult<()> {
    let tx = client.transaction().await.map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS unitrace_schema (version BIGINT NOT NULL)")
        .await
        .map_err(db_err)?;
    let version: i64 = match tx
        .query_opt("SELECT version FROM unitrace_schema", &[])
        .await
        .map_err(db_err)?
    {
        Some(r) => r.try_get(0).map_err(db_err)?,
        None => {
            tx.execute("INSERT INTO unitrace_schema (version) VALUES (0)", &[])
                .await
                .map_err(db_err)?;
            0
        }
    };
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
        tx.batch_execute(sql).await.map_err(db_err)?;
        tx.execute(
            "UPDATE unitrace_schema SET version = $1",
            &[&((i + 1) as i64)],
        )
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}
