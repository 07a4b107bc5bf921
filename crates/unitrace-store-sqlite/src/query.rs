//! EPCIS event query to SQLite SQL.

use rusqlite::types::Value;
use unitrace_store::query::{class_matchers, epc_matchers, Matcher};
use unitrace_store::units::to_base;
use unitrace_store::{EpcRole, EventQuery, FieldCond, QuantityRole, StoreResult};

/// Recursive descent of the location hierarchy from one location (itself included).
const DESCENDANTS: &str = "WITH RECURSIVE d(id, depth) AS (SELECT ?, 0 UNION \
     SELECT l.id, d.depth + 1 FROM location l JOIN d ON l.parent_id = d.id WHERE d.depth < 64) SELECT id FROM d";

#[derive(Default)]
pub(crate) struct Where {
    pub conds: Vec<String>,
    pub params: Vec<Value>,
}

impl Where {
    fn text(&mut self, v: &str) -> &'static str {
        self.params.push(Value::Text(v.to_string()));
        "?"
    }

    fn int(&mut self, v: i64) -> &'static str {
        self.params.push(Value::Integer(v));
        "?"
    }

    fn list(&mut self, values: &[String]) -> String {
        let mut s = String::from("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(self.text(v));
        }
        s.push(')');
        s
    }

    fn ints(codes: impl IntoIterator<Item = i64>) -> String {
        let v: Vec<String> = codes.into_iter().map(|c| c.to_string()).collect();
        format!("({})", v.join(", "))
    }

    fn col_in(&mut self, col: &str, values: &[String]) {
        if !values.is_empty() {
            let l = self.list(values);
            self.conds.push(format!("{col} IN {l}"));
        }
    }

    fn time(&mut self, col: &str, op: &str, v: Option<i64>) {
        if let Some(v) = v {
            let p = self.int(v);
            self.conds.push(format!("{col} {op} {p}"));
        }
    }

    fn within(&mut self, col: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let mut alts = Vec::new();
        for v in values {
            self.text(v);
            alts.push(format!("{col} IN ({DESCENDANTS})"));
        }
        self.conds.push(format!("({})", alts.join(" OR ")));
    }

    fn matchers(&mut self, col: &str, ms: &[Matcher]) -> String {
        let mut alts = Vec::new();
        for m in ms {
            match m {
                Matcher::Exact(v) => {
                    let p = self.text(v);
                    alts.push(format!("{col} = {p}"));
                }
                Matcher::Prefix(v) => match Matcher::prefix_upper(v) {
                    Some(up) => {
                        self.text(v);
                        self.text(&up);
                        alts.push(format!("({col} >= ? AND {col} < ?)"));
                    }
                    None => {
                        let p = self.text(v);
                        alts.push(format!("{col} >= {p}"));
                    }
                },
            }
        }
        format!("({})", alts.join(" OR "))
    }

    fn match_epc(&mut self, values: &[String], roles: &[EpcRole]) -> StoreResult<()> {
        if values.is_empty() {
            return Ok(());
        }
        let mut ms = Vec::new();
        for v in values {
            ms.extend(epc_matchers(v)?);
        }
        let m = self.matchers("x.epc", &ms);
        let r = Self::ints(roles.iter().map(|r| r.code()));
        self.conds.push(format!(
            "e.seq IN (SELECT x.event_seq FROM event_epc x WHERE {m} AND x.role IN {r})"
        ));
        Ok(())
    }

    fn match_class(&mut self, values: &[String], roles: &[QuantityRole]) -> StoreResult<()> {
        if values.is_empty() {
            return Ok(());
        }
        let mut ms = Vec::new();
        for v in values {
            ms.extend(class_matchers(v)?);
        }
        let m = self.matchers("q.epc_class", &ms);
        let r = Self::ints(roles.iter().map(|r| r.code()));
        self.conds.push(format!(
            "e.seq IN (SELECT q.event_seq FROM event_quantity q WHERE {m} AND q.role IN {r})"
        ));
        Ok(())
    }

    fn biztx(&mut self, kind: i64, params: &[(String, Vec<String>)]) {
        for (ty, values) in params {
            if values.is_empty() {
                continue;
            }
            let t = self.text(ty);
            let l = self.list(values);
            self.conds.push(format!(
                "e.seq IN (SELECT b.event_seq FROM event_biztx b WHERE b.kind = {kind} AND b.type = {t} AND b.value IN {l})"
            ));
        }
    }
}

/// Build the WHERE conditions of a query (without paging).
pub(crate) fn build_where(q: &EventQuery) -> StoreResult<Where> {
    let mut w = Where::default();
    if !q.event_types.is_empty() {
        let l = Where::ints(q.event_types.iter().map(|t| t.code()));
        w.conds.push(format!("e.event_type IN {l}"));
    }
    w.time("e.event_time", ">=", q.ge_event_time);
    w.time("e.event_time", "<", q.lt_event_time);
    w.time("e.record_time", ">=", q.ge_record_time);
    w.time("e.record_time", "<", q.lt_record_time);
    if !q.eq_action.is_empty() {
        let l = Where::ints(q.eq_action.iter().map(|a| a.code()));
        w.conds.push(format!("e.action IN {l}"));
    }
    w.col_in("e.biz_step", &q.eq_biz_step);
    w.col_in("e.disposition", &q.eq_disposition);
    for (op, values) in [
        (0, &q.eq_persistent_disposition_set),
        (1, &q.eq_persistent_disposition_unset),
    ] {
        if !values.is_empty() {
            let l = w.list(values);
            w.conds.push(format!(
                "e.seq IN (SELECT p.event_seq FROM event_pdisp p WHERE p.op = {op} AND p.value IN {l})"
            ));
        }
    }
    w.col_in("e.read_point", &q.eq_read_point);
    w.within("e.read_point", &q.wd_read_point);
    w.col_in("e.biz_location", &q.eq_biz_location);
    w.within("e.biz_location", &q.wd_biz_location);
    w.col_in("e.transformation_id", &q.eq_transformation_id);
    w.match_epc(&q.match_epc, &[EpcRole::Epc, EpcRole::ChildEpc])?;
    w.match_epc(&q.match_parent_id, &[EpcRole::ParentId])?;
    w.match_epc(&q.match_input_epc, &[EpcRole::InputEpc])?;
    w.match_epc(&q.match_output_epc, &[EpcRole::OutputEpc])?;
    w.match_epc(&q.match_any_epc, &EpcRole::ALL)?;
    w.match_class(
        &q.match_epc_class,
        &[QuantityRole::Quantity, QuantityRole::ChildQuantity],
    )?;
    w.match_class(&q.match_input_epc_class, &[QuantityRole::InputQuantity])?;
    w.match_class(&q.match_output_epc_class, &[QuantityRole::OutputQuantity])?;
    w.match_class(&q.match_any_epc_class, &QuantityRole::ALL)?;
    if !q.quantity.is_empty() {
        let mut c = Vec::new();
        for (op, v) in &q.quantity {
            w.params.push(Value::Real(*v));
            c.push(format!("q.quantity {} ?", op.sql()));
        }
        w.conds.push(format!(
            "EXISTS (SELECT 1 FROM event_quantity q WHERE q.event_seq = e.seq AND {})",
            c.join(" AND ")
        ));
    }
    for (op, v, uom) in &q.quantity_in_uom {
        let (base, value) = to_base(uom, *v);
        let u = w.text(base);
        w.params.push(Value::Real(value));
        w.conds.push(format!(
            "e.seq IN (SELECT q.event_seq FROM event_quantity q WHERE q.base_uom = {u} AND q.b_quantity {} ?)",
            op.sql()
        ));
    }
    w.col_in("e.event_id", &q.eq_event_id);
    if q.exists_error_declaration {
        w.conds.push("e.err_time IS NOT NULL".into());
    }
    w.time("e.err_time", ">=", q.ge_error_declaration_time);
    w.time("e.err_time", "<", q.lt_error_declaration_time);
    w.col_in("e.err_reason", &q.eq_error_reason);
    if !q.eq_corrective_event_id.is_empty() {
        let l = w.list(&q.eq_corrective_event_id);
        w.conds.push(format!(
            "e.seq IN (SELECT c.event_seq FROM event_corrective c WHERE c.event_id IN {l})"
        ));
    }
    w.biztx(0, &q.eq_biz_transaction);
    w.biztx(1, &q.eq_source);
    w.biztx(2, &q.eq_destination);
    w.col_in("e.ilmd_lot", &q.eq_ilmd_lot);
    for (col, values) in [
        ("s.type", &q.eq_sensor_type),
        ("s.device_id", &q.eq_device_id),
    ] {
        if !values.is_empty() {
            let l = w.list(values);
            w.conds.push(format!(
                "e.seq IN (SELECT s.event_seq FROM event_sensor s WHERE {col} IN {l})"
            ));
        }
    }
    if q.exists_sensor_element_list {
        w.conds
            .push("EXISTS (SELECT 1 FROM event_sensor s WHERE s.event_seq = e.seq)".into());
    }
    for (op, v) in [(">=", q.ge_sensor_time), ("<", q.lt_sensor_time)] {
        if let Some(v) = v {
            let p = w.int(v);
            w.conds.push(format!(
                "e.seq IN (SELECT s.event_seq FROM event_sensor s WHERE s.time {op} {p})"
            ));
        }
    }
    for (col, op, v) in q.sensor_period_bounds() {
        let p = w.int(v);
        w.conds.push(format!(
            "e.seq IN (SELECT m.event_seq FROM event_sensor_period m WHERE m.{col} {op} {p})"
        ));
    }
    for f in &q.fields {
        let n = w.text(&f.name);
        let base = format!(
            "SELECT f.event_seq FROM event_field f WHERE f.name = {n} AND f.scope = {} AND f.inner_field = {}",
            f.scope.code(),
            i64::from(f.inner)
        );
        let cond = match &f.cond {
            FieldCond::Eq(values) => format!(" AND f.text_value IN {}", w.list(values)),
            FieldCond::Cmp(op, v) => {
                w.params.push(Value::Real(*v));
                format!(" AND f.num_value {} ?", op.sql())
            }
            FieldCond::Exists => String::new(),
        };
        w.conds.push(format!("e.seq IN ({base}{cond})"));
    }
    for f in &q.sensor_values {
        let (base, value) = to_base(&f.uom, f.value);
        let u = w.text(base);
        w.params.push(Value::Real(value));
        w.conds.push(format!(
            "e.seq IN (SELECT s.event_seq FROM event_sensor s WHERE s.base_uom = {u} AND s.{} {} ?)",
            f.field.base_column(),
            f.op.sql()
        ));
    }
    Ok(w)
}
