//! The product identifier check (DSCSA verification: GTIN, serial, lot, expiry), its verdicts and
//! its log.
//!
//! [`decide`] is the pure rule: every finding about a unit becomes a reason, and the verdict is
//! the finding that comes first in [`Verdict`] order (precedence). [`verify`] gathers the facts
//! (unit state, allocation, open alerts) in at most four store reads.
//!
//! The log: every verification is kept as an item of a `verification-log` record per month
//! (`YYYY-MM`), item `<epc>|<time ms>|<node nonce>`, so that the verifications of a unit are one
//! prefix scan per month. The server queues entries in a bounded queue and a writer stores them
//! in batches ([`LogQueue`]); see its documentation for what is lost when the process dies.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use unitrace_store::{RecordItem, RecordStore, Store, StoreError};

use crate::serials::{self, UnitId};
use crate::{OpsError, OpsResult};

/// Record kind of the verification log (key: month `YYYY-MM`).
pub const KIND_LOG: &str = "verification-log";
/// Months of the log kept and searched.
pub const LOG_MONTHS: i64 = 24;
/// Entries waiting to be stored; beyond this an entry is dropped (and counted).
pub const LOG_QUEUE: usize = 10_000;
/// Entries stored by one write.
pub const LOG_BATCH: usize = 1_000;
/// Most entries of one listing.
pub const MAX_LIST: usize = 1_000;

/// Dispositions that take a unit out of the supply chain (EU FMD "decommissioned").
pub const DECOMMISSIONED: &[&str] = &[
    "dispensed",
    "destroyed",
    "disposed",
    "retail_sold",
    "stolen",
    "inactive",
];

/// The answer of a verification, in order of precedence: when several hold, the first wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Never seen and never allocated.
    Unknown,
    /// Allocated (or seen) but never commissioned.
    NotCommissioned,
    /// Its disposition or persistent disposition is `recalled`.
    Recalled,
    /// Dispensed, destroyed, sold, stolen, sampled or exported.
    Decommissioned,
    /// An open alert names the unit (clone, impossible state, foreign serial).
    Suspect,
    /// The lot or expiry given differ from ours.
    DataMismatch,
    /// Our expiry date is past.
    Expired,
    /// Commissioned, in the chain, nothing against it.
    Authentic,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Unknown => "unknown",
            Verdict::NotCommissioned => "not_commissioned",
            Verdict::Recalled => "recalled",
            Verdict::Decommissioned => "decommissioned",
            Verdict::Suspect => "suspect",
            Verdict::DataMismatch => "data_mismatch",
            Verdict::Expired => "expired",
            Verdict::Authentic => "authentic",
        }
    }
}

/// What we hold about the unit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnitFacts {
    pub commissioned: bool,
    pub disposition: Option<String>,
    pub persistent_dispositions: Vec<String>,
    pub lot: Option<String>,
    /// `YYYY-MM-DD`.
    pub expiry: Option<String>,
}

/// Everything the verdict depends on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts {
    /// None: no event names the unit.
    pub unit: Option<UnitFacts>,
    /// The allocation holding its serial.
    pub allocation: Option<String>,
    /// Whether its GTIN has allocations here (then an unallocated serial is foreign).
    pub gtin_has_allocations: bool,
    /// Rules of the open alerts on the unit.
    pub open_alerts: Vec<String>,
    /// Lot and expiry (`YYYY-MM-DD`) the caller read from the pack.
    pub given_lot: Option<String>,
    pub given_expiry: Option<String>,
    /// Today (UTC), days since 1970-01-01.
    pub today: i64,
}

/// A verdict and every finding behind it, most important first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date; None if not a real date.
pub fn date_days(d: &str) -> Option<i64> {
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, day) = (num(&d[0..4])?, num(&d[5..7])?, num(&d[8..10])?);
    if !(1..=12).contains(&m) || day < 1 || day > month_len(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, day))
}

fn month_len(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days_from_civil.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// An expiry as given by a caller: `YYYY-MM-DD`, or AI (17) `YYMMDD` (century by the GS1 rule
/// relative to `today`: the year is within 49 years back and 50 ahead; day `00` is the last day
/// of the month). Normalised to `YYYY-MM-DD`.
pub fn normalise_expiry(s: &str, today: i64) -> OpsResult<String> {
    let s = s.trim();
    if date_days(s).is_some() {
        return Ok(s.to_string());
    }
    let bad = || {
        OpsError::Invalid(format!(
            "expiry must be YYYY-MM-DD or YYMMDD (AI 17), got {s:?}"
        ))
    };
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let yy: i64 = s[0..2].parse().map_err(|_| bad())?;
    let mm: i64 = s[2..4].parse().map_err(|_| bad())?;
    let dd: i64 = s[4..6].parse().map_err(|_| bad())?;
    let (cy, _, _) = civil(today);
    let mut y = cy - cy.rem_euclid(100) + yy;
    let diff = yy - cy.rem_euclid(100);
    if diff >= 51 {
        y -= 100;
    } else if diff <= -50 {
        y += 100;
    }
    if !(1..=12).contains(&mm) {
        return Err(bad());
    }
    let d = if dd == 0 { month_len(y, mm) } else { dd };
    let text = format!("{y:04}-{mm:02}-{d:02}");
    date_days(&text).ok_or_else(bad)?;
    Ok(text)
}

/// The bare CBV word of a disposition or business step in any form (`recalled`,
/// `https://ref.gs1.org/cbv/Disp-recalled`, `urn:epcglobal:cbv:disp:recalled`).
pub fn cbv_word(s: &str) -> &str {
    if let Some(i) = s.rfind("/Disp-").or_else(|| s.rfind("/BizStep-")) {
        return &s[s[i..].find('-').map_or(i, |j| i + j + 1)..];
    }
    for p in ["urn:epcglobal:cbv:disp:", "urn:epcglobal:cbv:bizstep:"] {
        if let Some(rest) = s.strip_prefix(p) {
            return rest;
        }
    }
    s
}

/// Whether a unit with this disposition and persistent dispositions is recalled.
pub fn is_recalled(disposition: Option<&str>, persistent: &[String]) -> bool {
    disposition.map(cbv_word) == Some("recalled")
        || persistent.iter().any(|p| cbv_word(p) == "recalled")
}

/// Whether this disposition takes the unit out of the supply chain.
pub fn is_decommissioned(disposition: Option<&str>) -> bool {
    disposition.is_some_and(|d| DECOMMISSIONED.contains(&cbv_word(d)))
}

/// The verdict and its reasons (pure; the precedence is the order of [`Verdict`]).
pub fn decide(f: &Facts) -> Answer {
    let mut found: Vec<(Verdict, String)> = Vec::new();
    match &f.unit {
        None => {
            match &f.allocation {
                Some(a) => found.push((
                    Verdict::NotCommissioned,
                    format!("the serial is allocated (allocation {a}) but was never commissioned"),
                )),
                None if f.gtin_has_allocations => found.push((
                    Verdict::Unknown,
                    "no event names this unit and its serial was never allocated, although \
                     serials of its GTIN are allocated here: it may be counterfeit"
                        .to_string(),
                )),
                None => found.push((
                    Verdict::Unknown,
                    "no event names this unit and its serial was never allocated".to_string(),
                )),
            }
            return answer(found);
        }
        Some(u) => {
            if !u.commissioned {
                found.push((
                    Verdict::NotCommissioned,
                    "events name this unit but none commissions it".to_string(),
                ));
                if f.allocation.is_none() && f.gtin_has_allocations {
                    found.push((
                        Verdict::Suspect,
                        "its serial was never allocated, although serials of its GTIN are \
                         allocated here"
                            .to_string(),
                    ));
                }
            }
            if is_recalled(u.disposition.as_deref(), &u.persistent_dispositions) {
                found.push((Verdict::Recalled, "the unit is recalled".to_string()));
            }
            if is_decommissioned(u.disposition.as_deref()) {
                found.push((
                    Verdict::Decommissioned,
                    format!(
                        "the unit was decommissioned (disposition {})",
                        u.disposition.as_deref().map(cbv_word).unwrap_or_default()
                    ),
                ));
            }
            for rule in &f.open_alerts {
                found.push((
                    Verdict::Suspect,
                    format!("an open alert names the unit (rule {rule})"),
                ));
            }
            if let (Some(g), Some(o)) = (&f.given_lot, &u.lot) {
                if g != o {
                    found.push((
                        Verdict::DataMismatch,
                        format!("lot {g} differs from the lot {o} it was commissioned with"),
                    ));
                }
            }
            if let (Some(g), Some(o)) = (&f.given_expiry, &u.expiry) {
                if g != o {
                    found.push((
                        Verdict::DataMismatch,
                        format!("expiry {g} differs from the expiry {o} it was commissioned with"),
                    ));
                }
            }
            if let Some(d) = u.expiry.as_deref().and_then(date_days) {
                if d < f.today {
                    found.push((
                        Verdict::Expired,
                        format!("it expired on {}", u.expiry.as_deref().unwrap_or_default()),
                    ));
                }
            }
        }
    }
    if found.is_empty() {
        found.push((
            Verdict::Authentic,
            "commissioned, in the supply chain, and nothing speaks against it".to_string(),
        ));
    }
    answer(found)
}

fn answer(mut found: Vec<(Verdict, String)>) -> Answer {
    found.sort_by_key(|(v, _)| *v);
    Answer {
        verdict: found[0].0,
        reasons: found.into_iter().map(|(_, r)| r).collect(),
    }
}

/// A verification request: an identifier in any form, and the lot and expiry on the pack (which
/// may also come inside the identifier, as AIs (10) and (17) of scan data or a Digital Link).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct VerifyRequest {
    pub id: String,
    #[serde(default)]
    pub lot: Option<String>,
    #[serde(default)]
    pub expiry: Option<String>,
}

/// The answer with what was checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub id: String,
    pub epc: String,
    pub gtin: Option<String>,
    pub serial: Option<String>,
    pub lot: Option<String>,
    pub expiry: Option<String>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub checked_ms: i64,
}

/// Lot and expiry given by the caller, from the parameters and the identifier's AIs; an error
/// when they disagree.
fn given(
    req: &VerifyRequest,
    unit: &UnitId,
    today: i64,
) -> OpsResult<(Option<String>, Option<String>)> {
    let ai = |k: &str| {
        unit.ais
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
    };
    let lot = match (req.lot.clone().filter(|l| !l.is_empty()), ai("10")) {
        (Some(a), Some(b)) if a != b => {
            return Err(OpsError::Invalid(format!(
                "lot {a:?} differs from the lot {b:?} inside the identifier"
            )))
        }
        (a, b) => a.or(b),
    };
    let p = req
        .expiry
        .as_deref()
        .filter(|x| !x.is_empty())
        .map(|x| normalise_expiry(x, today))
        .transpose()?;
    let q = ai("17").map(|x| normalise_expiry(&x, today)).transpose()?;
    let expiry = match (p, q) {
        (Some(a), Some(b)) if a != b => {
            return Err(OpsError::Invalid(format!(
                "expiry {a} differs from the expiry {b} inside the identifier"
            )))
        }
        (a, b) => a.or(b),
    };
    if let Some(l) = &lot {
        if l.len() > 20 {
            return Err(OpsError::Invalid(format!(
                "lot is at most 20 characters (AI 10), got {}",
                l.len()
            )));
        }
    }
    Ok((lot, expiry))
}

/// Verify one unit. Invalid identifiers and inconsistent inputs are `OpsError::Invalid`.
pub async fn verify(
    store: &dyn Store,
    req: &VerifyRequest,
    now_ms: i64,
) -> OpsResult<Verification> {
    let unit = serials::identify(&req.id)?;
    let today = now_ms.div_euclid(86_400_000);
    let (given_lot, given_expiry) = given(req, &unit, today)?;
    // The reads run at the same time (each goes to the store's read pool).
    let (state, open_alerts) = tokio::join!(
        store.unit_state(&unit.epc),
        crate::alerts::open_alerts(store, &unit.epc)
    );
    let (state, open_alerts) = (state?, open_alerts?);
    let commissioned = state.as_ref().is_some_and(|s| s.commissioned_at.is_some());
    let (mut allocation, mut gtin_has) = (None, false);
    if !commissioned {
        if let Some((g, s)) = &unit.sgtin {
            let (a, h) = tokio::join!(
                serials::is_allocated(store, g, s),
                serials::gtin_has_allocations(store, g)
            );
            allocation = a?;
            gtin_has = allocation.is_some() || h?;
        }
    }
    let open_alerts = if state.is_some() {
        open_alerts
    } else {
        Vec::new()
    };
    let facts = Facts {
        unit: state.as_ref().map(|s| UnitFacts {
            commissioned: s.commissioned_at.is_some(),
            disposition: s.disposition.clone(),
            persistent_dispositions: s.persistent_dispositions.clone(),
            lot: s.lot.clone(),
            expiry: s.expiry.clone(),
        }),
        allocation,
        gtin_has_allocations: gtin_has,
        open_alerts,
        given_lot: given_lot.clone(),
        given_expiry: given_expiry.clone(),
        today,
    };
    let a = decide(&facts);
    Ok(Verification {
        id: req.id.trim().to_string(),
        epc: unit.epc,
        gtin: unit.sgtin.as_ref().map(|(g, _)| g.clone()),
        serial: unit.sgtin.map(|(_, s)| s),
        lot: state.as_ref().and_then(|s| s.lot.clone()),
        expiry: state.as_ref().and_then(|s| s.expiry.clone()),
        verdict: a.verdict,
        reasons: a.reasons,
        checked_ms: now_ms,
    })
}

/// One entry of the verification log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at_ms: i64,
    /// Who asked (`X-Requester`, the authenticated identity, or the client address).
    pub requester: String,
    /// The identifier as given (at most 256 characters kept).
    pub input: String,
    pub epc: String,
    pub lot: Option<String>,
    pub expiry: Option<String>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

impl LogEntry {
    pub fn of(
        v: &Verification,
        requester: &str,
        lot: Option<String>,
        expiry: Option<String>,
    ) -> Self {
        LogEntry {
            at_ms: v.checked_ms,
            requester: requester.chars().take(256).collect(),
            input: v.id.chars().take(256).collect(),
            epc: v.epc.clone(),
            lot: lot.map(|l| l.chars().take(64).collect()),
            expiry: expiry.map(|l| l.chars().take(64).collect()),
            verdict: v.verdict,
            reasons: v.reasons.clone(),
        }
    }
}

fn month_key(ms: i64) -> String {
    let (y, m, _) = civil(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}")
}

/// A per-process nonce so two nodes writing the same unit in the same millisecond do not collide.
fn nonce() -> u64 {
    static N: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let base = *N.get_or_init(|| {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        u64::from_le_bytes(b) & 0xffff_ffff_0000_0000
    });
    base | (SEQ.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff)
}

/// Store a batch of log entries (one write per month touched).
pub async fn store_log(store: &dyn RecordStore, entries: &[LogEntry]) -> OpsResult<()> {
    let mut by_month: std::collections::BTreeMap<String, Vec<RecordItem>> = Default::default();
    for e in entries {
        let body = serde_json::to_value(e)
            .map_err(|x| OpsError::Invalid(format!("cannot write a log entry: {x}")))?;
        by_month
            .entry(month_key(e.at_ms))
            .or_default()
            .push(RecordItem {
                item: format!("{}|{:013}|{:016x}", e.epc, e.at_ms.max(0), nonce()),
                body,
            });
    }
    for (month, items) in by_month {
        for chunk in items.chunks(LOG_BATCH) {
            match store.put_record_items(KIND_LOG, &month, chunk).await {
                Err(StoreError::NotFound(_)) => {
                    match store
                        .create_record(KIND_LOG, &month, &json!({"month": month}))
                        .await
                    {
                        Ok(_) | Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                    store.put_record_items(KIND_LOG, &month, chunk).await?;
                }
                r => r?,
            }
        }
    }
    Ok(())
}

/// Remove the log months older than [`LOG_MONTHS`] before `now_ms`; returns how many.
pub async fn prune_log(store: &dyn RecordStore, now_ms: i64) -> OpsResult<usize> {
    let oldest_kept = {
        let (y, m, _) = civil(now_ms.div_euclid(86_400_000));
        let idx = y * 12 + (m - 1) - (LOG_MONTHS - 1);
        format!("{:04}-{:02}", idx.div_euclid(12), idx.rem_euclid(12) + 1)
    };
    let old = store.list_records(KIND_LOG, None, 100).await?;
    let mut n = 0;
    for r in old.iter().filter(|r| r.key < oldest_kept) {
        if store.delete_record(KIND_LOG, &r.key).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// The verifications of a unit, newest first, at most `limit` (at most [`MAX_LIST`]).
pub async fn list_log(
    store: &dyn RecordStore,
    epc: &str,
    now_ms: i64,
    limit: usize,
) -> OpsResult<Vec<LogEntry>> {
    let limit = limit.clamp(1, MAX_LIST);
    let prefix = format!("{epc}|");
    let (y, m, _) = civil(now_ms.div_euclid(86_400_000));
    let mut out = Vec::new();
    for back in 0..LOG_MONTHS {
        let idx = y * 12 + (m - 1) - back;
        let month = format!("{:04}-{:02}", idx.div_euclid(12), idx.rem_euclid(12) + 1);
        let mut got: Vec<LogEntry> = Vec::new();
        let mut after = prefix.clone();
        loop {
            let page = store
                .list_record_items(KIND_LOG, &month, Some(&after), 1000)
                .await?;
            let full = page.len() == 1000;
            let mut stop = !full;
            for it in page {
                if !it.item.starts_with(&prefix) {
                    stop = true;
                    break;
                }
                after = it.item.clone();
                if let Ok(e) = serde_json::from_value::<LogEntry>(it.body) {
                    got.push(e);
                }
            }
            if stop {
                break;
            }
        }
        got.reverse();
        for e in got {
            out.push(e);
            if out.len() >= limit {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// The log queue of one server: handlers [`LogQueue::push`] without waiting; one writer
/// ([`LogQueue::run_writer`]) stores batches of up to [`LOG_BATCH`] entries.
///
/// What is lost if the process dies: the entries still in the queue (at most [`LOG_QUEUE`], in
/// practice those of the last few milliseconds, as the writer stores whatever is waiting as soon
/// as its previous write returns). When the queue is full, new entries are dropped and counted
/// ([`LogQueue::dropped`]) rather than slowing the answers. On an orderly shutdown the writer
/// stores everything queued before it ends.
pub struct LogQueue {
    tx: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<LogEntry>>>,
    dropped: AtomicU64,
    written: AtomicU64,
}

impl LogQueue {
    pub fn new() -> (
        std::sync::Arc<LogQueue>,
        tokio::sync::mpsc::Receiver<LogEntry>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(LOG_QUEUE);
        (
            std::sync::Arc::new(LogQueue {
                tx: std::sync::Mutex::new(Some(tx)),
                dropped: AtomicU64::new(0),
                written: AtomicU64::new(0),
            }),
            rx,
        )
    }

    /// Queue an entry; false (and counted) when the queue is full or closed.
    pub fn push(&self, e: LogEntry) -> bool {
        let sent = match self.tx.lock() {
            Ok(g) => g.as_ref().is_some_and(|tx| tx.try_send(e).is_ok()),
            Err(_) => false,
        };
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Close the queue: the writer stores what is queued and ends.
    pub fn close(&self) {
        if let Ok(mut g) = self.tx.lock() {
            g.take();
        }
    }

    /// Entries dropped (queue full, closed, or a failed write).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Entries stored.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Store entries until the queue is closed and empty. A failed write is logged and retried
    /// once; then its entries are dropped (counted).
    pub async fn run_writer(
        self: std::sync::Arc<Self>,
        store: std::sync::Arc<dyn Store>,
        mut rx: tokio::sync::mpsc::Receiver<LogEntry>,
    ) {
        let mut batch = Vec::with_capacity(LOG_BATCH);
        while rx.recv_many(&mut batch, LOG_BATCH).await > 0 {
            let mut ok = false;
            for _ in 0..2 {
                match store_log(store.as_ref(), &batch).await {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "verification log write failed"),
                }
            }
            let counter = if ok { &self.written } else { &self.dropped };
            counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
        }
    }

    /// A log entry as JSON for the API.
    pub fn entry_json(e: &LogEntry) -> Value {
        json!({
            "at_ms": e.at_ms,
            "requester": e.requester,
            "id": e.input,
            "epc": e.epc,
            "lot": e.lot,
            "expiry": e.expiry,
            "verdict": e.verdict,
            "reasons": e.reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> UnitFacts {
        UnitFacts {
            commissioned: true,
            disposition: Some("active".into()),
            persistent_dispositions: vec![],
            lot: Some("L1".into()),
            expiry: Some("2030-01-31".into()),
        }
    }

    fn facts(u: Option<UnitFacts>) -> Facts {
        Facts {
            unit: u,
            today: date_days("2027-01-01").unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn every_verdict() {
        assert_eq!(decide(&facts(None)).verdict, Verdict::Unknown);
        let mut f = facts(None);
        f.gtin_has_allocations = true;
        let a = decide(&f);
        assert_eq!(a.verdict, Verdict::Unknown);
        assert!(a.reasons[0].contains("counterfeit"));
        f.allocation = Some("SA1".into());
        assert_eq!(decide(&f).verdict, Verdict::NotCommissioned);

        let mut u = unit();
        u.commissioned = false;
        let mut f = facts(Some(u));
        assert_eq!(decide(&f).verdict, Verdict::NotCommissioned);
        f.gtin_has_allocations = true;
        let a = decide(&f);
        assert_eq!(a.verdict, Verdict::NotCommissioned);
        assert_eq!(a.reasons.len(), 2);

        assert_eq!(decide(&facts(Some(unit()))).verdict, Verdict::Authentic);

        let mut u = unit();
        u.disposition = Some("https://ref.gs1.org/cbv/Disp-recalled".into());
        assert_eq!(decide(&facts(Some(u))).verdict, Verdict::Recalled);
        let mut u = unit();
        u.persistent_dispositions = vec!["recalled".into()];
        assert_eq!(decide(&facts(Some(u))).verdict, Verdict::Recalled);

        for d in DECOMMISSIONED {
            let mut u = unit();
            u.disposition = Some((*d).into());
            assert_eq!(
                decide(&facts(Some(u))).verdict,
                Verdict::Decommissioned,
                "{d}"
            );
        }

        let mut f = facts(Some(unit()));
        f.open_alerts = vec!["impossible_travel".into()];
        assert_eq!(decide(&f).verdict, Verdict::Suspect);

        let mut f = facts(Some(unit()));
        f.given_lot = Some("L2".into());
        assert_eq!(decide(&f).verdict, Verdict::DataMismatch);
        let mut f = facts(Some(unit()));
        f.given_expiry = Some("2030-01-30".into());
        assert_eq!(decide(&f).verdict, Verdict::DataMismatch);
        let mut f = facts(Some(unit()));
        f.given_lot = Some("L1".into());
        f.given_expiry = Some("2030-01-31".into());
        assert_eq!(decide(&f).verdict, Verdict::Authentic);

        let mut f = facts(Some(unit()));
        f.today = date_days("2030-02-01").unwrap();
        assert_eq!(decide(&f).verdict, Verdict::Expired);
        f.today = date_days("2030-01-31").unwrap();
        assert_eq!(
            decide(&f).verdict,
            Verdict::Authentic,
            "valid on its expiry day"
        );
    }

    #[test]
    fn precedence_keeps_every_reason() {
        let mut u = unit();
        u.disposition = Some("dispensed".into());
        u.persistent_dispositions = vec!["recalled".into()];
        let mut f = facts(Some(u));
        f.open_alerts = vec!["seen_after_decommission".into()];
        f.given_lot = Some("X".into());
        f.today = date_days("2031-01-01").unwrap();
        let a = decide(&f);
        assert_eq!(a.verdict, Verdict::Recalled);
        assert_eq!(a.reasons.len(), 5);
        assert!(a.reasons[1].contains("decommissioned"));
        assert!(a.reasons[4].contains("expired"));
    }

    #[test]
    fn dates() {
        assert_eq!(date_days("1970-01-01"), Some(0));
        assert_eq!(date_days("2028-02-29").map(civil), Some((2028, 2, 29)));
        assert_eq!(date_days("2027-02-29"), None);
        assert_eq!(date_days("2027-13-01"), None);
        assert_eq!(date_days("27-01-01"), None);
        let today = date_days("2026-11-26").unwrap();
        assert_eq!(normalise_expiry("280831", today).unwrap(), "2028-08-31");
        assert_eq!(normalise_expiry("280800", today).unwrap(), "2028-08-31");
        assert_eq!(normalise_expiry("990101", today).unwrap(), "1999-01-01");
        assert_eq!(normalise_expiry("760101", today).unwrap(), "2076-01-01");
        assert!(normalise_expiry("281301", today).is_err());
        assert!(normalise_expiry("2028-8-1", today).is_err());
        for d in [0i64, 1, 59, 60, 365, 10_000, 20_000, -1, -719_468] {
            let (y, m, dd) = civil(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn cbv_words() {
        assert_eq!(cbv_word("recalled"), "recalled");
        assert_eq!(
            cbv_word("https://ref.gs1.org/cbv/Disp-retail_sold"),
            "retail_sold"
        );
        assert_eq!(cbv_word("urn:epcglobal:cbv:disp:stolen"), "stolen");
        assert_eq!(
            cbv_word("https://ref.gs1.org/cbv/BizStep-receiving"),
            "receiving"
        );
    }
}
