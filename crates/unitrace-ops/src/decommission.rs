//! Decommissioning and reactivation (EU FMD rules).
//!
//! A reason maps to the CBV business step and disposition of the event written ([`Reason::cbv`]):
//!
//! | reason | action | bizStep | disposition |
//! | --- | --- | --- | --- |
//! | `dispensed` | OBSERVE | `dispensing` | `dispensed` |
//! | `destroyed` | DELETE | `destroying` | `destroyed` |
//! | `retail_sold` | OBSERVE | `retail_selling` | `retail_sold` |
//! | `stolen` | OBSERVE | `decommissioning` | `stolen` |
//! | `sample` | OBSERVE | `sampling` | `inactive` |
//! | `export` | OBSERVE | `departing` | `inactive` |
//!
//! Every event also carries `unitrace:decommissionReason` (sample and export share a
//! disposition). Reactivation writes ObjectEvent OBSERVE, bizStep `stocking`, disposition `active`,
//! with `unitrace:reactivates` naming the decommissioning event; it is refused ([`check_reactivation`])
//! for a unit that is not decommissioned, destroyed, stolen, recalled or expired, more than
//! [`REACTIVATION_DAYS`] days after its decommissioning, or at another site than the one that
//! decommissioned it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use unitrace_store::{Store, UnitState};

use crate::alerts::REACTIVATION_FIELD;
use crate::emit::{self, ObjectEventSpec};
use crate::serials::{identify, location_id};
use crate::verify::{cbv_word, date_days, is_decommissioned, is_recalled};
use crate::{OpsError, OpsResult};

/// EU FMD: a decommissioned pack may be reactivated within this many days.
pub const REACTIVATION_DAYS: i64 = 10;
/// Most units in one request.
pub const MAX_UNITS: usize = 10_000;
const DAY_MS: i64 = 86_400_000;

/// Why a unit leaves the supply chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Dispensed,
    Destroyed,
    RetailSold,
    Stolen,
    Sample,
    Export,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::Dispensed,
        Reason::Destroyed,
        Reason::RetailSold,
        Reason::Stolen,
        Reason::Sample,
        Reason::Export,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Dispensed => "dispensed",
            Reason::Destroyed => "destroyed",
            Reason::RetailSold => "retail_sold",
            Reason::Stolen => "stolen",
            Reason::Sample => "sample",
            Reason::Export => "export",
        }
    }

    pub fn parse(s: &str) -> OpsResult<Reason> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "reason must be one of dispensed, destroyed, retail_sold, stolen, sample, \
                     export; got {s:?}"
                ))
            })
    }

    /// (action, bizStep, disposition) of the event.
    pub fn cbv(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Reason::Dispensed => ("OBSERVE", "dispensing", "dispensed"),
            Reason::Destroyed => ("DELETE", "destroying", "destroyed"),
            Reason::RetailSold => ("OBSERVE", "retail_selling", "retail_sold"),
            Reason::Stolen => ("OBSERVE", "decommissioning", "stolen"),
            Reason::Sample => ("OBSERVE", "sampling", "inactive"),
            Reason::Export => ("OBSERVE", "departing", "inactive"),
        }
    }
}

/// A decommissioning request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DecommissionRequest {
    /// Units in any identifier form.
    pub units: Vec<String>,
    pub reason: String,
    /// Where (SGLN in any form).
    pub location: String,
}

/// A reactivation request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReactivateRequest {
    pub units: Vec<String>,
    pub location: String,
}

/// The events written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub epcs: Vec<String>,
    pub event_hash_ids: Vec<String>,
}

fn units_of(inputs: &[String]) -> OpsResult<Vec<String>> {
    if inputs.is_empty() || inputs.len() > MAX_UNITS {
        return Err(OpsError::Invalid(format!(
            "units: give 1 to {MAX_UNITS} identifiers, got {}",
            inputs.len()
        )));
    }
    let mut out = Vec::with_capacity(inputs.len());
    for (i, u) in inputs.iter().enumerate() {
        let id = identify(u).map_err(|e| OpsError::Invalid(format!("units[{i}]: {e}")))?;
        if out.contains(&id.epc) {
            return Err(OpsError::Invalid(format!(
                "units[{i}]: {} appears twice",
                id.epc
            )));
        }
        out.push(id.epc);
    }
    Ok(out)
}

async fn states(store: &dyn Store, epcs: &[String]) -> OpsResult<Vec<UnitState>> {
    let mut found = Vec::with_capacity(epcs.len());
    for chunk in epcs.chunks(1000) {
        found.extend(store.unit_states(chunk).await?);
    }
    let mut out = Vec::with_capacity(epcs.len());
    for e in epcs {
        let st = found
            .iter()
            .find(|s| &s.epc == e)
            .cloned()
            .ok_or_else(|| OpsError::NotFound(format!("no event names {e}")))?;
        out.push(st);
    }
    Ok(out)
}

fn today(now_ms: i64) -> i64 {
    now_ms.div_euclid(DAY_MS)
}

fn expired(st: &UnitState, now_ms: i64) -> bool {
    st.expiry
        .as_deref()
        .and_then(date_days)
        .is_some_and(|d| d < today(now_ms))
}

/// Why a unit may not be decommissioned for this reason (pure). `None`: it may.
pub fn check_decommission(st: &UnitState, reason: Reason) -> Option<String> {
    if st.commissioned_at.is_none() {
        return Some(format!(
            "{} was never commissioned (rule not_commissioned)",
            st.epc
        ));
    }
    if is_decommissioned(st.disposition.as_deref()) {
        return Some(format!(
            "{} is already decommissioned (disposition {}; rule already_decommissioned)",
            st.epc,
            st.disposition.as_deref().map(cbv_word).unwrap_or_default()
        ));
    }
    let to_patient = matches!(
        reason,
        Reason::Dispensed | Reason::RetailSold | Reason::Sample | Reason::Export
    );
    if to_patient && is_recalled(st.disposition.as_deref(), &st.persistent_dispositions) {
        return Some(format!(
            "{} is recalled: it may be destroyed or reported stolen, not {} (rule recalled)",
            st.epc,
            reason.as_str()
        ));
    }
    None
}

/// Decommission units: one event for all of them, all or nothing.
pub async fn decommission(
    store: &dyn Store,
    req: &DecommissionRequest,
    now_ms: i64,
) -> OpsResult<Outcome> {
    let reason = Reason::parse(&req.reason)?;
    let location = location_id(&req.location)?;
    let epcs = units_of(&req.units)?;
    for st in states(store, &epcs).await? {
        if let Some(why) = check_decommission(&st, reason) {
            return Err(OpsError::Conflict(format!("cannot decommission: {why}")));
        }
    }
    let (action, step, disp) = reason.cbv();
    let spec = ObjectEventSpec {
        event_time_ms: now_ms,
        action,
        epcs: epcs.clone(),
        biz_step: Some(step.into()),
        disposition: Some(disp.into()),
        read_point: Some(location.clone()),
        biz_location: Some(location),
        fields: vec![("decommissionReason".into(), json!(reason.as_str()))],
        ..Default::default()
    };
    let res = emit::capture(store, &[spec], now_ms).await?;
    Ok(Outcome {
        epcs,
        event_hash_ids: res.hash_ids,
    })
}

/// The decommissioning a reactivation would undo.
#[derive(Debug, Clone, PartialEq)]
pub struct Decommissioning {
    pub hash_id: String,
    pub event_time: i64,
    /// Site (top of the location hierarchy) of its bizLocation, else readPoint.
    pub site: Option<String>,
    pub disposition: String,
}

/// A refusal: HTTP-ish class (`true`: the request itself is wrong, 400; `false`: the unit's state
/// forbids it, 409), the rule and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub bad_request: bool,
    pub rule: &'static str,
    pub message: String,
}

/// The EU FMD reactivation rules (pure).
pub fn check_reactivation(
    st: &UnitState,
    d: Option<&Decommissioning>,
    site_here: Option<&str>,
    now_ms: i64,
) -> Result<(), Refusal> {
    let refuse = |bad_request, rule, message: String| {
        Err(Refusal {
            bad_request,
            rule,
            message,
        })
    };
    let epc = &st.epc;
    if is_recalled(st.disposition.as_deref(), &st.persistent_dispositions) {
        return refuse(
            false,
            "recalled",
            format!("{epc} is recalled: never reactivated"),
        );
    }
    let Some(d) = d.filter(|_| is_decommissioned(st.disposition.as_deref())) else {
        return refuse(
            false,
            "not_decommissioned",
            format!("{epc} is not decommissioned: nothing to reactivate"),
        );
    };
    match cbv_word(&d.disposition) {
        "destroyed" | "disposed" => {
            return refuse(
                false,
                "destroyed",
                format!("{epc} was destroyed: never reactivated"),
            )
        }
        "stolen" => {
            return refuse(
                false,
                "stolen",
                format!("{epc} was reported stolen: never reactivated"),
            )
        }
        _ => {}
    }
    if expired(st, now_ms) {
        return refuse(
            false,
            "expired",
            format!(
                "{epc} expired on {}: never reactivated",
                st.expiry.as_deref().unwrap_or_default()
            ),
        );
    }
    if now_ms - d.event_time > REACTIVATION_DAYS * DAY_MS {
        return refuse(
            false,
            "ten_days",
            format!(
                "{epc} was decommissioned more than {REACTIVATION_DAYS} days ago: too late to \
                 reactivate"
            ),
        );
    }
    if d.site.as_deref() != site_here {
        return refuse(
            true,
            "same_location",
            format!(
                "{epc} was decommissioned at {}, not here ({}): only that location may reactivate it",
                d.site.as_deref().unwrap_or("an unknown location"),
                site_here.unwrap_or("?")
            ),
        );
    }
    Ok(())
}

/// Top of a location's hierarchy (the location itself when master data does not know it).
pub async fn site_of(store: &dyn Store, id: &str) -> OpsResult<String> {
    let mut cur = id.to_string();
    for _ in 0..unitrace_store::limits::MAX_CONTAINMENT_DEPTH {
        match store.get_location(&cur).await? {
            Some(l) => match l.parent_id {
                Some(p) => cur = p,
                None => return Ok(l.id),
            },
            None => return Ok(cur),
        }
    }
    Ok(cur)
}

/// The newest event that gave the unit its current (decommissioned) disposition.
async fn last_decommissioning(
    store: &dyn Store,
    st: &UnitState,
) -> OpsResult<Option<Decommissioning>> {
    let Some(disp) = st.disposition.as_deref().map(cbv_word) else {
        return Ok(None);
    };
    let events = store
        .events_naming(
            &st.epc,
            None,
            None,
            unitrace_store::limits::MAX_TIMELINE_EVENTS,
        )
        .await?;
    for e in events.iter().rev() {
        let d = &e.document;
        if d.get("disposition").and_then(|v| v.as_str()).map(cbv_word) != Some(disp) {
            continue;
        }
        let loc = d
            .get("bizLocation")
            .and_then(|l| l.get("id"))
            .or_else(|| d.get("readPoint").and_then(|l| l.get("id")))
            .and_then(|v| v.as_str())
            .map(unitrace_capture::normalise_epc);
        let site = match loc {
            Some(l) => Some(site_of(store, &l).await?),
            None => None,
        };
        return Ok(Some(Decommissioning {
            hash_id: e.hash_id.clone(),
            event_time: e.event_time,
            site,
            disposition: disp.to_string(),
        }));
    }
    Ok(None)
}

/// Reactivate units (all or nothing) under the EU FMD rules.
pub async fn reactivate(
    store: &dyn Store,
    req: &ReactivateRequest,
    now_ms: i64,
) -> OpsResult<Outcome> {
    let location = location_id(&req.location)?;
    let here = site_of(store, &location).await?;
    let epcs = units_of(&req.units)?;
    let mut specs = Vec::with_capacity(epcs.len());
    for st in states(store, &epcs).await? {
        let d = last_decommissioning(store, &st).await?;
        if let Err(r) = check_reactivation(&st, d.as_ref(), Some(&here), now_ms) {
            let m = format!("reactivation refused (rule {}): {}", r.rule, r.message);
            return Err(if r.bad_request {
                OpsError::Invalid(m)
            } else {
                OpsError::Conflict(m)
            });
        }
        let Some(d) = d else { continue };
        specs.push(ObjectEventSpec {
            event_time_ms: now_ms,
            action: "OBSERVE",
            epcs: vec![st.epc.clone()],
            biz_step: Some("stocking".into()),
            disposition: Some("active".into()),
            read_point: Some(location.clone()),
            biz_location: Some(location.clone()),
            fields: vec![(REACTIVATION_FIELD.into(), json!(d.hash_id))],
            ..Default::default()
        });
    }
    let res = emit::capture(store, &specs, now_ms).await?;
    Ok(Outcome {
        epcs,
        event_hash_ids: res.hash_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn st(disp: &str) -> UnitState {
        let mut s = UnitState::empty("urn:epc:id:sgtin:0614141.020001.X");
        s.commissioned_at = Some(0);
        s.disposition = Some(disp.into());
        s.expiry = Some("2030-01-01".into());
        s
    }

    fn d(disp: &str, days_ago: i64, site: &str) -> Decommissioning {
        Decommissioning {
            hash_id: "h".into(),
            event_time: NOW - days_ago * DAY_MS,
            site: Some(site.into()),
            disposition: disp.into(),
        }
    }

    fn rule(r: Result<(), Refusal>) -> &'static str {
        r.err().map(|r| r.rule).unwrap_or("ok")
    }

    #[test]
    fn reactivation_rules() {
        let here = Some("S");
        assert_eq!(
            rule(check_reactivation(
                &st("dispensed"),
                Some(&d("dispensed", 9, "S")),
                here,
                NOW
            )),
            "ok"
        );
        assert_eq!(
            rule(check_reactivation(
                &st("dispensed"),
                Some(&d("dispensed", 11, "S")),
                here,
                NOW
            )),
            "ten_days"
        );
        let r = check_reactivation(&st("dispensed"), Some(&d("dispensed", 1, "T")), here, NOW);
        assert_eq!(r.as_ref().err().map(|r| r.bad_request), Some(true));
        assert_eq!(rule(r), "same_location");
        assert_eq!(
            rule(check_reactivation(
                &st("destroyed"),
                Some(&d("destroyed", 1, "S")),
                here,
                NOW
            )),
            "destroyed"
        );
        assert_eq!(
            rule(check_reactivation(
                &st("stolen"),
                Some(&d("stolen", 1, "S")),
                here,
                NOW
            )),
            "stolen"
        );
        assert_eq!(
            rule(check_reactivation(&st("active"), None, here, NOW)),
            "not_decommissioned"
        );
        let mut rec = st("dispensed");
        rec.persistent_dispositions = vec!["recalled".into()];
        assert_eq!(
            rule(check_reactivation(
                &rec,
                Some(&d("dispensed", 1, "S")),
                here,
                NOW
            )),
            "recalled"
        );
        let mut old = st("dispensed");
        old.expiry = Some("2020-01-01".into());
        assert_eq!(
            rule(check_reactivation(
                &old,
                Some(&d("dispensed", 1, "S")),
                here,
                NOW
            )),
            "expired"
        );
        assert_eq!(
            rule(check_reactivation(
                &st("inactive"),
                Some(&d("inactive", 10, "S")),
                here,
                NOW
            )),
            "ok"
        );
    }

    #[test]
    fn decommission_rules() {
        assert_eq!(check_decommission(&st("active"), Reason::Dispensed), None);
        assert!(check_decommission(&st("dispensed"), Reason::Destroyed)
            .unwrap()
            .contains("already_decommissioned"));
        let mut rec = st("recalled");
        assert!(check_decommission(&rec, Reason::Dispensed)
            .unwrap()
            .contains("rule recalled"));
        assert_eq!(check_decommission(&rec, Reason::Destroyed), None);
        rec.commissioned_at = None;
        assert!(check_decommission(&rec, Reason::Destroyed)
            .unwrap()
            .contains("not_commissioned"));
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()).unwrap(), r);
            let (_, _, disp) = r.cbv();
            assert!(is_decommissioned(Some(disp)), "{disp}");
        }
        assert!(Reason::parse("lost").is_err());
    }
}
