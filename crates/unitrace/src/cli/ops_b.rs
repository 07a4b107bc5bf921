//! Recalls, receiving and cycle counts: the verbs open the database directly (`--db sqlite:PATH |
//! postgres://...`, or `UNITRACE_DB`) and print JSON (exports print CSV or an EPCIS document).
//! Scans are given as arguments or, without any, read from standard input one per line.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use unitrace_ops::{counts, recalls, receiving};
use unitrace_store::{Clock, Store, SystemClock};

#[derive(Subcommand, Debug)]
pub enum OpsBCommand {
    /// Recalls: create (the exact affected units, where they are, in what state), show (with
    /// progress), units, hold, export.
    #[command(subcommand)]
    Recall(RecallCommand),
    /// Receiving against an expected list: open, scan, status, close.
    #[command(subcommand)]
    Receive(ReceiveCommand),
    /// Cycle counts: open, scan, close, accuracy (a location's series).
    #[command(subcommand)]
    Count(CountCommand),
}

#[derive(Args, Debug, Clone)]
pub struct Database {
    /// The store: `sqlite:PATH` or `postgres://...` (env UNITRACE_DB).
    #[arg(long)]
    db: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RecallCommand {
    /// Create a recall from criteria (AND of those given).
    Create(Box<RecallCreate>),
    /// A recall with its progress (retrieved, outstanding, per state).
    Show {
        #[command(flatten)]
        db: Database,
        id: String,
    },
    /// A page of affected units with their current state.
    Units {
        #[command(flatten)]
        db: Database,
        id: String,
        /// Continue after this EPC (the `next` of the previous page).
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Put the affected units still in the supply chain on hold (once).
    Hold {
        #[command(flatten)]
        db: Database,
        id: String,
    },
    /// Export the affected units as CSV or an EPCIS 2.0 document.
    Export {
        #[command(flatten)]
        db: Database,
        id: String,
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

#[derive(Args, Debug)]
pub struct RecallCreate {
    #[command(flatten)]
    db: Database,
    /// GTIN-8/12/13/14.
    #[arg(long)]
    gtin: Option<String>,
    /// Lot (repeatable).
    #[arg(long = "lot")]
    lots: Vec<String>,
    /// Serial range FROM..TO of the GTIN (repeatable).
    #[arg(long = "serial-range")]
    serial_ranges: Vec<String>,
    /// Commissioned at or after (RFC 3339).
    #[arg(long)]
    commissioned_from: Option<String>,
    /// Commissioned before (RFC 3339).
    #[arg(long)]
    commissioned_to: Option<String>,
    /// Commissioned at this location or below.
    #[arg(long)]
    production_location: Option<String>,
    /// Now at this location or below.
    #[arg(long)]
    location: Option<String>,
    /// Upstream component unit (repeatable).
    #[arg(long = "input")]
    inputs: Vec<String>,
    /// Upstream component lot GTIN:LOT (repeatable; also followed where consumed as a quantity).
    #[arg(long = "input-lot")]
    input_lots: Vec<String>,
    #[arg(long)]
    reason: Option<String>,
    /// Where recalled units are brought back (repeatable).
    #[arg(long = "return-location")]
    return_locations: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ReceiveCommand {
    /// Open a receiving session: an expected list (`--expected FILE`, one identifier per line, `-`
    /// for standard input) or the sender's shipping events (`--biz-transaction` or `--event-id`).
    Open {
        #[command(flatten)]
        db: Database,
        #[arg(long)]
        location: String,
        #[arg(long)]
        expected: Option<String>,
        #[arg(long)]
        biz_transaction: Option<String>,
        /// Type of --biz-transaction (default desadv).
        #[arg(long)]
        biz_transaction_type: Option<String>,
        #[arg(long = "event-id")]
        event_ids: Vec<String>,
        /// in_progress (default) or sellable_not_accessible.
        #[arg(long)]
        disposition: Option<String>,
    },
    /// Scan units or SSCCs into a session (arguments, or standard input one per line).
    Scan {
        #[command(flatten)]
        db: Database,
        id: String,
        codes: Vec<String>,
    },
    /// The session with its reconciliation.
    Status {
        #[command(flatten)]
        db: Database,
        id: String,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Close: write the receiving events, freeze the reconciliation.
    Close {
        #[command(flatten)]
        db: Database,
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum CountCommand {
    /// Open a count of a location (and its sub-locations).
    Open {
        #[command(flatten)]
        db: Database,
        #[arg(long)]
        location: String,
        /// Disposition for missing units at the close: unknown, stolen, non_sellable_other,
        /// damaged (default: exceptions only).
        #[arg(long)]
        missing_disposition: Option<String>,
    },
    /// Scan units or SSCCs into a count (arguments, or standard input one per line).
    Scan {
        #[command(flatten)]
        db: Database,
        id: String,
        codes: Vec<String>,
    },
    /// Close: counted, missing, unexpected; adjusting events; an accuracy point.
    Close {
        #[command(flatten)]
        db: Database,
        id: String,
    },
    /// The inventory accuracy series of a location.
    Accuracy {
        #[command(flatten)]
        db: Database,
        location: String,
    },
}

impl Database {
    async fn store(&self) -> Result<Arc<dyn Store>> {
        let db = self
            .db
            .clone()
            .or_else(|| std::env::var("UNITRACE_DB").ok().filter(|v| !v.is_empty()))
            .ok_or_else(|| {
                anyhow!("no database: give --db sqlite:PATH or postgres://... (or UNITRACE_DB)")
            })?;
        super::serve::open_store(&db).await
    }
}

fn now() -> i64 {
    SystemClock.now_millis()
}

fn print(v: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Lines of a file (`-`: standard input), blank ones skipped.
fn read_lines(path: &str) -> Result<Vec<String>> {
    let text = if path == "-" {
        let mut s = String::new();
        for l in std::io::stdin().lock().lines() {
            s.push_str(&l.context("reading standard input")?);
            s.push('\n');
        }
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
    };
    Ok(receiving::scan_lines(&text))
}

fn codes_or_stdin(codes: Vec<String>) -> Result<Vec<String>> {
    if codes.is_empty() {
        read_lines("-")
    } else {
        Ok(codes)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

pub fn run(cmd: OpsBCommand) -> Result<bool> {
    runtime()?.block_on(async move {
        match cmd {
            OpsBCommand::Recall(c) => recall(c).await,
            OpsBCommand::Receive(c) => receive(c).await,
            OpsBCommand::Count(c) => count(c).await,
        }
    })?;
    Ok(true)
}

fn criteria(a: &RecallCreate) -> Result<recalls::Criteria> {
    let mut serial_ranges = Vec::new();
    for r in &a.serial_ranges {
        let (from, to) = r
            .split_once("..")
            .ok_or_else(|| anyhow!("--serial-range {r:?}: expected FROM..TO"))?;
        serial_ranges.push(recalls::SerialRange {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    let mut input_lots = Vec::new();
    for l in &a.input_lots {
        let (gtin, lot) = l
            .split_once(':')
            .ok_or_else(|| anyhow!("--input-lot {l:?}: expected GTIN:LOT"))?;
        input_lots.push(recalls::InputLot {
            gtin: gtin.to_string(),
            lot: lot.to_string(),
        });
    }
    Ok(recalls::Criteria {
        gtin: a.gtin.clone(),
        lots: a.lots.clone(),
        serial_ranges,
        commissioned_from: a.commissioned_from.clone(),
        commissioned_to: a.commissioned_to.clone(),
        production_location: a.production_location.clone(),
        location: a.location.clone(),
        inputs: a.inputs.clone(),
        input_lots,
    })
}

async fn recall(c: RecallCommand) -> Result<()> {
    match c {
        RecallCommand::Create(a) => {
            let req = recalls::CreateRecall {
                criteria: criteria(&a)?,
                reason: a.reason.clone(),
                return_locations: a.return_locations.clone(),
            };
            let store = a.db.store().await?;
            let (r, _) = recalls::create(store.as_ref(), &req, now()).await?;
            print(&json!(r))
        }
        RecallCommand::Show { db, id } => {
            let store = db.store().await?;
            let (r, p) = recalls::progress(store.as_ref(), &id).await?;
            let mut v = json!(r);
            v["progress"] = json!(p);
            print(&v)
        }
        RecallCommand::Units {
            db,
            id,
            after,
            limit,
        } => {
            if limit == 0 || limit > recalls::MAX_UNITS_PAGE {
                bail!("--limit must be 1 to {}", recalls::MAX_UNITS_PAGE);
            }
            let store = db.store().await?;
            let (units, next) =
                recalls::units(store.as_ref(), &id, after.as_deref(), limit).await?;
            print(&json!({"units": units, "next": next}))
        }
        RecallCommand::Hold { db, id } => {
            let store = db.store().await?;
            print(&json!(recalls::hold(store.as_ref(), &id, now()).await?))
        }
        RecallCommand::Export { db, id, format } => {
            let format = recalls::Format::parse(&format)?;
            let store = db.store().await?;
            let mut out = std::io::stdout().lock();
            let mut after: Option<String> = None;
            loop {
                let (chunk, next) =
                    recalls::export_chunk(store.as_ref(), &id, format, after.as_deref()).await?;
                out.write_all(&chunk)?;
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            if format == recalls::Format::Epcis {
                writeln!(out)?;
            }
            Ok(())
        }
    }
}

fn session_json(
    s: &receiving::Session,
    r: &receiving::Reconciliation,
    c: &receiving::Counts,
    limit: usize,
) -> Value {
    let mut v = json!(s);
    v["counts"] = json!(c);
    v["reconciliation"] = r.to_json(limit);
    v
}

async fn receive(c: ReceiveCommand) -> Result<()> {
    match c {
        ReceiveCommand::Open {
            db,
            location,
            expected,
            biz_transaction,
            biz_transaction_type,
            event_ids,
            disposition,
        } => {
            let wanted = biz_transaction.is_some() || !event_ids.is_empty();
            let shipment = wanted.then_some(receiving::ShipmentRef {
                biz_transaction,
                biz_transaction_type,
                event_ids,
            });
            let expected = match expected {
                Some(p) => read_lines(&p)?,
                None => Vec::new(),
            };
            let req = receiving::OpenReceiving {
                location,
                expected,
                shipment,
                disposition,
            };
            let store = db.store().await?;
            print(&json!(receiving::open(store.as_ref(), &req, now()).await?))
        }
        ReceiveCommand::Scan { db, id, codes } => {
            let codes = codes_or_stdin(codes)?;
            let store = db.store().await?;
            print(&json!(receiving::scan(store.as_ref(), &id, &codes).await?))
        }
        ReceiveCommand::Status { db, id, limit } => {
            let store = db.store().await?;
            let (s, r, c) = receiving::status(store.as_ref(), &id).await?;
            print(&session_json(&s, &r, &c, limit))
        }
        ReceiveCommand::Close { db, id } => {
            let store = db.store().await?;
            let (s, r, c) = receiving::close(store.as_ref(), &id, now()).await?;
            print(&session_json(&s, &r, &c, 1000))
        }
    }
}

async fn count(c: CountCommand) -> Result<()> {
    match c {
        CountCommand::Open {
            db,
            location,
            missing_disposition,
        } => {
            let store = db.store().await?;
            let req = counts::OpenCount {
                location,
                missing_disposition,
            };
            print(&json!(counts::open(store.as_ref(), &req, now()).await?))
        }
        CountCommand::Scan { db, id, codes } => {
            let codes = codes_or_stdin(codes)?;
            let store = db.store().await?;
            let (n, obs) = counts::scan(store.as_ref(), &id, &codes).await?;
            print(&json!({"scans": n, "observations": obs}))
        }
        CountCommand::Close { db, id } => {
            let store = db.store().await?;
            let (c, o) = counts::close(store.as_ref(), &id, now()).await?;
            let mut v = json!(c);
            v["outcome"] = json!(o);
            print(&v)
        }
        CountCommand::Accuracy { db, location } => {
            let store = db.store().await?;
            let series = counts::accuracy_series(store.as_ref(), &location, 10_000).await?;
            print(&json!({"location": location, "accuracy": series}))
        }
    }
}
