//! Decoding rows into store types.

use tokio_postgres::Row;
use unitrace_store::state::EventFacts;
use unitrace_store::{Action, EventType, StoreError, StoreResult, StoredEvent, UnitState};

use crate::schema::db_err;

/// Columns of `event` that make [`EventFacts`], in this order (alias `e`).
macro_rules! fact_cols {
    () => {
        "e.seq, e.event_type, e.event_time, e.action, e.biz_step, e.disposition, e.read_point, e.biz_location, \
         e.pdisp_set, e.pdisp_unset, e.ilmd_lot, e.ilmd_expiry, e.parent_id, e.empty_delete"
    };
}
pub(crate) use fact_cols;

/// Columns of `unit_state`, in the order [`unit_from_row`] reads them.
macro_rules! unit_cols {
    () => {
        "epc, commissioned_at, commissioned_where, commissioned_by_step, last_event_time, last_event_seq, \
         biz_location, read_point, disposition, pdisps, lot, expiry, parent, parent_since_time, parent_since_seq, location_time"
    };
}
pub(crate) use unit_cols;

/// The `ON CONFLICT` clause of a `unit_state` upsert: every column but the key from `EXCLUDED`.
macro_rules! unit_upsert_set {
    () => {
        " ON CONFLICT (epc) DO UPDATE SET commissioned_at = EXCLUDED.commissioned_at, \
         commissioned_where = EXCLUDED.commissioned_where, commissioned_by_step = EXCLUDED.commissioned_by_step, \
         last_event_time = EXCLUDED.last_event_time, last_event_seq = EXCLUDED.last_event_seq, \
         biz_location = EXCLUDED.biz_location, read_point = EXCLUDED.read_point, disposition = EXCLUDED.disposition, \
         pdisps = EXCLUDED.pdisps, lot = EXCLUDED.lot, expiry = EXCLUDED.expiry, parent = EXCLUDED.parent, \
         parent_since_time = EXCLUDED.parent_since_time, parent_since_seq = EXCLUDED.parent_since_seq, \
         location_time = EXCLUDED.location_time"
    };
}
pub(crate) use unit_upsert_set;

/// Columns of `event` that make a [`StoredEvent`] (alias `e`).
macro_rules! event_cols {
    () => {
        "e.seq, e.hash_id, e.event_id, e.event_type, e.event_time, e.record_time, e.document"
    };
}
pub(crate) use event_cols;

pub(crate) fn json_list(v: &[String]) -> Option<String> {
    if v.is_empty() {
        None
    } else {
        serde_json::to_string(v).ok()
    }
}

fn parse_list(s: Option<String>) -> StoreResult<Vec<String>> {
    match s {
        None => Ok(Vec::new()),
        Some(s) => {
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("stored list: {e}")))
        }
    }
}

fn event_type(code: i64) -> StoreResult<EventType> {
    EventType::from_code(code).ok_or_else(|| StoreError::Corrupt(format!("event type code {code}")))
}

pub(crate) fn facts_from_row(r: &Row) -> StoreResult<EventFacts> {
    let action: Option<i64> = r.try_get(3).map_err(db_err)?;
    Ok(EventFacts {
        seq: r.try_get(0).map_err(db_err)?,
        event_type: event_type(r.try_get(1).map_err(db_err)?)?,
        event_time: r.try_get(2).map_err(db_err)?,
        action: match action {
            None => None,
            Some(c) => Some(
                Action::from_code(c)
                    .ok_or_else(|| StoreError::Corrupt(format!("action code {c}")))?,
            ),
        },
        biz_step: r.try_get(4).map_err(db_err)?,
        disposition: r.try_get(5).map_err(db_err)?,
        read_point: r.try_get(6).map_err(db_err)?,
        biz_location: r.try_get(7).map_err(db_err)?,
        pdisp_set: parse_list(r.try_get(8).map_err(db_err)?)?,
        pdisp_unset: parse_list(r.try_get(9).map_err(db_err)?)?,
        ilmd_lot: r.try_get(10).map_err(db_err)?,
        ilmd_expiry: r.try_get(11).map_err(db_err)?,
        parent_id: r.try_get(12).map_err(db_err)?,
        empty_delete: r.try_get(13).map_err(db_err)?,
    })
}

pub(crate) fn unit_from_row(r: &Row) -> StoreResult<UnitState> {
    let pst: Option<i64> = r.try_get(13).map_err(db_err)?;
    let pss: Option<i64> = r.try_get(14).map_err(db_err)?;
    Ok(UnitState {
        epc: r.try_get(0).map_err(db_err)?,
        commissioned_at: r.try_get(1).map_err(db_err)?,
        commissioned_where: r.try_get(2).map_err(db_err)?,
        commissioned_by_step: r.try_get(3).map_err(db_err)?,
        last_event_time: r.try_get(4).map_err(db_err)?,
        last_event_seq: r.try_get(5).map_err(db_err)?,
        biz_location: r.try_get(6).map_err(db_err)?,
        read_point: r.try_get(7).map_err(db_err)?,
        disposition: r.try_get(8).map_err(db_err)?,
        persistent_dispositions: parse_list(r.try_get(9).map_err(db_err)?)?,
        lot: r.try_get(10).map_err(db_err)?,
        expiry: r.try_get(11).map_err(db_err)?,
        parent: r.try_get(12).map_err(db_err)?,
        parent_since: pst.zip(pss),
        location_time: r.try_get(15).map_err(db_err)?,
    })
}

pub(crate) fn stored_from_row(r: &Row) -> StoreResult<StoredEvent> {
    let seq: i64 = r.try_get(0).map_err(db_err)?;
    let doc: String = r.try_get(6).map_err(db_err)?;
    Ok(StoredEvent {
        seq,
        hash_id: r.try_get(1).map_err(db_err)?,
        event_id: r.try_get(2).map_err(db_err)?,
        event_type: event_type(r.try_get(3).map_err(db_err)?)?,
        event_time: r.try_get(4).map_err(db_err)?,
        record_time: r.try_get(5).map_err(db_err)?,
        document: serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?,
    })
}

pub(crate) fn attrs_text(v: &serde_json::Value) -> Option<String> {
    if v.is_null() {
        None
    } else {
        Some(v.to_string())
    }
}

pub(crate) fn attrs_parse(s: Option<String>) -> StoreResult<serde_json::Value> {
    match s {
        None => Ok(serde_json::Value::Null),
        Some(s) => {
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))
        }
    }
}

/// Appends one COPY text-format field: `\N` for NULL, backslash escapes otherwise.
pub(crate) fn copy_field(out: &mut String, v: Option<&str>) {
    let Some(s) = v else {
        out.push_str("\\N");
        return;
    };
    // Runs without a byte to escape are copied whole (the escaped bytes are ASCII, so every cut
    // falls on a character boundary).
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(esc);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::copy_field;

    fn field(v: Option<&str>) -> String {
        let mut out = String::from("x");
        copy_field(&mut out, v);
        out
    }

    #[test]
    fn copy_field_escapes_exactly_the_copy_specials() {
        assert_eq!(field(None), "x\\N");
        assert_eq!(field(Some("")), "x");
        assert_eq!(
            field(Some("urn:epc:id:sgtin:0614141.107346.2017")),
            "xurn:epc:id:sgtin:0614141.107346.2017"
        );
        assert_eq!(field(Some("\\N")), "x\\\\N");
        assert_eq!(field(Some("a\tb\nc\rd\\")), "xa\\tb\\nc\\rd\\\\");
        assert_eq!(field(Some("\\\\")), "x\\\\\\\\");
        assert_eq!(field(Some("Lot-é\t日本\n")), "xLot-é\\t日本\\n");
        assert_eq!(field(Some("\"quoted\" 'x'")), "x\"quoted\" 'x'");
    }
}
