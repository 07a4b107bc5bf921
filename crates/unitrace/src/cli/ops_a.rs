//! Serial provisioning, commissioning, verification, alerts, decommissioning: the verbs open the
//! database directly (`--db sqlite:PATH | postgres://...`, or `UNITRACE_DB`) and print JSON.

use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use unitrace_ops::alerts::{self, AlertFilter, Rule};
use unitrace_ops::decommission::{self, DecommissionRequest, ReactivateRequest};
use unitrace_ops::serials::{self, AllocationRequest, CommissionRequest, Method};
use unitrace_ops::verify::{self, VerifyRequest};
use unitrace_store::Store;

#[derive(Subcommand, Debug)]
pub enum OpsACommand {
    /// Serial numbers: allocate (sequential, pattern, random), list, show.
    #[command(subcommand)]
    Serials(SerialsCommand),
    /// Commission units (ObjectEvent ADD commissioning, lot and expiry in the ILMD).
    Commission(CommissionArgs),
    /// Verify a unit (GTIN, serial, lot, expiry): authentic, unknown, not_commissioned,
    /// decommissioned, recalled, expired, data_mismatch or suspect.
    Verify(VerifyArgs),
    /// Alerts of clone and impossible-state detection: list (default), show, ack, detect.
    Alerts(AlertsArgs),
    /// Decommission units (dispensed, destroyed, retail_sold, stolen, sample, export).
    Decommission(DecommissionArgs),
    /// Reactivate decommissioned units (EU FMD: within 10 days, at the same location).
    Reactivate(ReactivateArgs),
}

#[derive(Args, Debug, Clone)]
pub struct Db {
    /// The store: `sqlite:PATH` or `postgres://...` (env UNITRACE_DB).
    #[arg(long, global = true)]
    pub db: Option<String>,
}

impl Db {
    async fn open(&self) -> Result<Arc<dyn Store>> {
        let db = self
            .db
            .clone()
            .or_else(|| std::env::var("UNITRACE_DB").ok().filter(|v| !v.is_empty()))
            .ok_or_else(|| {
                anyhow!("no database: give --db sqlite:PATH or postgres://... (or set UNITRACE_DB)")
            })?;
        super::serve::open_store(&db).await
    }
}

#[derive(Subcommand, Debug)]
pub enum SerialsCommand {
    /// Allocate serials for a GTIN.
    Allocate(AllocateArgs),
    /// List allocations.
    List {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        gtin: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One allocation with its serials.
    Show {
        #[command(flatten)]
        db: Db,
        allocation: String,
    },
}

#[derive(Args, Debug)]
pub struct AllocateArgs {
    #[command(flatten)]
    db: Db,
    /// GTIN-8/12/13/14.
    #[arg(long)]
    gtin: String,
    #[arg(long)]
    count: usize,
    /// sequential, pattern or random.
    #[arg(long, default_value = "random")]
    method: String,
    /// Prefix of pattern and random serials.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Digits of a pattern's number.
    #[arg(long, default_value_t = 6)]
    width: usize,
    /// Random symbols of a random serial.
    #[arg(long, default_value_t = serials::DEFAULT_RANDOM_LEN)]
    length: usize,
    /// Who asks (recorded with the allocation).
    #[arg(long, default_value = "cli")]
    by: String,
}

#[derive(Args, Debug)]
pub struct CommissionArgs {
    #[command(flatten)]
    db: Db,
    /// Where (SGLN or GLN in any form).
    #[arg(long)]
    location: String,
    /// Commission serials of this allocation (all of them when no units are given).
    #[arg(long)]
    allocation: Option<String>,
    /// GTIN of bare serials.
    #[arg(long)]
    gtin: Option<String>,
    #[arg(long)]
    lot: Option<String>,
    /// YYYY-MM-DD.
    #[arg(long)]
    expiry: Option<String>,
    /// Units in any identifier form, or bare serials with --allocation or --gtin.
    units: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    db: Db,
    /// The identifier in any form (Digital Link, EPC URI, element string, scan data, hex).
    id: String,
    #[arg(long)]
    lot: Option<String>,
    /// YYYY-MM-DD or YYMMDD.
    #[arg(long)]
    expiry: Option<String>,
}

#[derive(Args, Debug)]
pub struct AlertsArgs {
    #[command(subcommand)]
    cmd: Option<AlertsCommand>,
    #[command(flatten)]
    db: Db,
    /// Only alerts of this rule.
    #[arg(long)]
    rule: Option<String>,
    /// Only alerts on this unit (any identifier form).
    #[arg(long)]
    unit: Option<String>,
    /// open or acknowledged.
    #[arg(long)]
    status: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// List alerts (the default).
    List,
    /// One alert.
    Show { id: String },
    /// Acknowledge an alert.
    Ack {
        id: String,
        #[arg(long, default_value = "cli")]
        by: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Run the detector over the events recorded since its watermark (what the server does in
    /// the background).
    Detect,
}

#[derive(Args, Debug)]
pub struct DecommissionArgs {
    #[command(flatten)]
    db: Db,
    /// dispensed, destroyed, retail_sold, stolen, sample or export.
    #[arg(long)]
    reason: String,
    #[arg(long)]
    location: String,
    /// Units in any identifier form.
    #[arg(required = true)]
    units: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ReactivateArgs {
    #[command(flatten)]
    db: Db,
    #[arg(long)]
    location: String,
    #[arg(required = true)]
    units: Vec<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn print(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn run(cmd: OpsACommand) -> Result<bool> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(run_async(cmd))
}

async fn run_async(cmd: OpsACommand) -> Result<bool> {
    match cmd {
        OpsACommand::Serials(SerialsCommand::Allocate(a)) => {
            let store = a.db.open().await?;
            let method = match a.method.as_str() {
                "sequential" => Method::Sequential,
                "pattern" => Method::Pattern {
                    prefix: a.prefix.clone(),
                    width: a.width,
                },
                "random" => Method::Random {
                    prefix: a.prefix.clone(),
                    length: a.length,
                },
                m => {
                    return Err(anyhow!(
                        "--method must be sequential, pattern or random, got {m:?}"
                    ))
                }
            };
            let req = AllocationRequest {
                gtin: a.gtin.clone(),
                count: a.count,
                method,
            };
            let al = serials::allocate(store.as_ref(), &req, &a.by, now_ms()).await?;
            let mut v = al.summary();
            v["serials"] = json!(al.serials);
            print(&v)?;
        }
        OpsACommand::Serials(SerialsCommand::List { db, gtin, limit }) => {
            let store = db.open().await?;
            let list =
                serials::list_allocations(store.as_ref(), gtin.as_deref(), None, limit).await?;
            print(&json!(list.iter().map(|a| a.summary()).collect::<Vec<_>>()))?;
        }
        OpsACommand::Serials(SerialsCommand::Show { db, allocation }) => {
            let store = db.open().await?;
            let al = serials::get_allocation(store.as_ref(), &allocation).await?;
            print(&serde_json::to_value(&al)?)?;
        }
        OpsACommand::Commission(a) => {
            let store = a.db.open().await?;
            let req = CommissionRequest {
                allocation: a.allocation,
                units: a.units,
                gtin: a.gtin,
                lot: a.lot,
                expiry: a.expiry,
                location: a.location,
            };
            let c = serials::commission(store.as_ref(), &req, now_ms()).await?;
            print(
                &json!({"commissioned": c.epcs.len(), "epcs": c.epcs, "event_hash_ids": c.event_hash_ids}),
            )?;
        }
        OpsACommand::Verify(a) => {
            let store = a.db.open().await?;
            let req = VerifyRequest {
                id: a.id,
                lot: a.lot,
                expiry: a.expiry,
            };
            let v = verify::verify(store.as_ref(), &req, now_ms()).await?;
            let who = format!("cli:{}", std::env::var("USER").unwrap_or_default());
            verify::store_log(
                store.as_ref(),
                &[verify::LogEntry::of(
                    &v,
                    &who,
                    req.lot.clone(),
                    req.expiry.clone(),
                )],
            )
            .await?;
            print(&serde_json::to_value(&v)?)?;
        }
        OpsACommand::Alerts(a) => {
            let store = a.db.open().await?;
            match a.cmd.unwrap_or(AlertsCommand::List) {
                AlertsCommand::List => {
                    let f = AlertFilter {
                        rule: a
                            .rule
                            .as_deref()
                            .map(|r| {
                                Rule::parse(r).ok_or_else(|| {
                                    anyhow!(
                                        "--rule must be one of {}",
                                        Rule::ALL.map(Rule::as_str).join(", ")
                                    )
                                })
                            })
                            .transpose()?,
                        unit: a
                            .unit
                            .as_deref()
                            .map(|u| serials::identify(u).map(|i| i.epc))
                            .transpose()?,
                        status: a.status,
                    };
                    let (list, _) = alerts::list_alerts(store.as_ref(), &f, None, a.limit).await?;
                    print(&json!(list))?;
                }
                AlertsCommand::Show { id } => {
                    print(&serde_json::to_value(
                        alerts::get_alert(store.as_ref(), &id).await?,
                    )?)?;
                }
                AlertsCommand::Ack { id, by, note } => {
                    let al =
                        alerts::acknowledge(store.as_ref(), &id, &by, note.as_deref(), now_ms())
                            .await?;
                    print(&serde_json::to_value(al)?)?;
                }
                AlertsCommand::Detect => {
                    let (mut examined, mut raised) = (0, Vec::new());
                    loop {
                        let pass = alerts::detect(store.as_ref(), now_ms()).await?;
                        examined += pass.events;
                        raised.extend(pass.raised);
                        if !pass.more {
                            break;
                        }
                    }
                    print(&json!({"events_examined": examined, "raised": raised}))?;
                }
            }
        }
        OpsACommand::Decommission(a) => {
            let store = a.db.open().await?;
            let req = DecommissionRequest {
                units: a.units,
                reason: a.reason,
                location: a.location,
            };
            let o = decommission::decommission(store.as_ref(), &req, now_ms()).await?;
            print(&json!({"epcs": o.epcs, "event_hash_ids": o.event_hash_ids}))?;
        }
        OpsACommand::Reactivate(a) => {
            let store = a.db.open().await?;
            let req = ReactivateRequest {
                units: a.units,
                location: a.location,
            };
            let o = decommission::reactivate(store.as_ref(), &req, now_ms()).await?;
            print(&json!({"epcs": o.epcs, "event_hash_ids": o.event_hash_ids}))?;
        }
    }
    Ok(true)
}
