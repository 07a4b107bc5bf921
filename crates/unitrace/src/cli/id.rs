//! `unitrace id`: parse an identifier in any form, or encode one for an RFID tag.
//!
//! The JSON printed here is a contract other tools depend on (see issue #2): keep key names.

use std::io::Read;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use unitrace_id::{parse_any, EpcTag, GcpResolver, Parsed, Scheme};

#[derive(Subcommand)]
pub enum IdCommand {
    /// Parse an identifier in any form and print every other form.
    ///
    /// INPUT is a bracketed element string `(01)...(21)...`, barcode scan data with a symbology
    /// identifier (`]d2...`, FNC1 as ASCII 29) or with `^` as FNC1, a GS1 Digital Link URI, an
    /// EPC URI `urn:epc:id:...`, an EPC tag URI `urn:epc:tag:...`, or a binary EPC as `hex:<HEX>`.
    /// `-` reads one line from standard input.
    Parse {
        /// Print one JSON object instead of readable lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        prefixes: PrefixArgs,
        input: String,
    },
    /// Encode an identifier for an RFID tag: prints `{"tag_uri": ..., "hex": ...}`.
    Encode {
        /// TDS scheme, e.g. sgtin-96, sgtin-198, sscc-96, sgln-96, grai-96, giai-96, gid-96.
        #[arg(long)]
        scheme: String,
        /// Filter value, 0 to 7.
        #[arg(long, default_value_t = 0)]
        filter: u8,
        #[command(flatten)]
        prefixes: PrefixArgs,
        input: String,
    },
}

#[derive(Args)]
pub struct PrefixArgs {
    /// A GS1 Company Prefix of yours, tried before GS1's prefix-length table (repeatable; also
    /// UNITRACE_COMPANY_PREFIXES, comma-separated).
    #[arg(long = "company-prefix", value_name = "DIGITS")]
    company_prefix: Vec<String>,
}

impl PrefixArgs {
    fn resolver(&self) -> Result<GcpResolver> {
        let mut prefixes = self.company_prefix.clone();
        if let Ok(env) = std::env::var("UNITRACE_COMPANY_PREFIXES") {
            prefixes.extend(
                env.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
        GcpResolver::with_prefixes(prefixes).map_err(|e| anyhow!("company prefix: {e}"))
    }
}

/// Runs the verb; the caller prints the error on one line and exits with status 1.
pub fn run(cmd: IdCommand) -> Result<()> {
    match cmd {
        IdCommand::Parse {
            json,
            prefixes,
            input,
        } => {
            let resolver = prefixes.resolver()?;
            let input = read_input(input)?;
            let parsed = parse_any(&input).map_err(|e| anyhow!("{e}"))?;
            let out = parse_report(&parsed, &resolver);
            if json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                print_readable(&out);
            }
            Ok(())
        }
        IdCommand::Encode {
            scheme,
            filter,
            prefixes,
            input,
        } => {
            let resolver = prefixes.resolver()?;
            let input = read_input(input)?;
            let scheme = Scheme::from_name(&scheme.to_ascii_lowercase()).ok_or_else(|| {
                let names: Vec<&str> = Scheme::all().iter().map(|s| s.name()).collect();
                anyhow!("unknown scheme {scheme:?}; one of: {}", names.join(", "))
            })?;
            let parsed = parse_any(&input).map_err(|e| anyhow!("{e}"))?;
            let identity = parsed
                .identity
                .clone()
                .ok_or_else(|| anyhow!("the data names no serialised unit to encode"))?;
            let gcp_len = match identity {
                unitrace_id::Identity::Gid(_) => 0,
                _ => parsed
                    .resolve_gcp_len(&resolver)
                    .map_err(|e| anyhow!("{e}"))?,
            };
            let tag = EpcTag::new(scheme, filter, identity, gcp_len).map_err(|e| anyhow!("{e}"))?;
            println!("{}", json!({"tag_uri": tag.tag_uri(), "hex": tag.hex()}));
            Ok(())
        }
    }
}

fn read_input(input: String) -> Result<String> {
    if input != "-" {
        return Ok(input);
    }
    let mut buf = String::new();
    std::io::stdin()
        .take(unitrace_id::parse::MAX_INPUT_LEN as u64 + 2)
        .read_to_string(&mut buf)
        .context("reading the identifier from standard input")?;
    let line = buf.lines().next().unwrap_or("");
    Ok(line.to_string())
}

/// The `unitrace id parse --json` object.
pub fn parse_report(parsed: &Parsed, resolver: &GcpResolver) -> Value {
    let mut out = Map::new();
    out.insert("input_kind".into(), json!(parsed.input_kind.name()));
    let ais: Vec<Value> = parsed.ais().iter().map(|(a, v)| json!([a, v])).collect();
    out.insert("ais".into(), Value::Array(ais));
    out.insert("bracketed".into(), json!(parsed.bracketed()));
    out.insert("digital_link".into(), json!(parsed.digital_link()));
    match parsed.epc_uri(resolver) {
        Ok(uri) => {
            out.insert("epc_uri".into(), json!(uri));
        }
        Err(e) => {
            out.insert("epc_uri".into(), Value::Null);
            out.insert("epc_uri_error".into(), json!(e.to_string()));
        }
    }
    if let Some(identity) = &parsed.identity {
        out.insert("identity_kind".into(), json!(identity.kind().name()));
        out.insert("canonical_key".into(), json!(identity.canonical_key()));
    }
    if let Some(tag) = &parsed.tag {
        out.insert("scheme".into(), json!(tag.scheme().name()));
        out.insert("filter".into(), json!(tag.filter()));
        out.insert("tag_uri".into(), json!(tag.tag_uri()));
        out.insert("hex".into(), json!(tag.hex()));
    }
    Value::Object(out)
}

fn print_readable(out: &Value) {
    let Some(map) = out.as_object() else { return };
    for (key, value) in map {
        match (key.as_str(), value) {
            ("ais", Value::Array(pairs)) => {
                for pair in pairs {
                    if let (Some(ai), Some(v)) = (
                        pair.get(0).and_then(Value::as_str),
                        pair.get(1).and_then(Value::as_str),
                    ) {
                        println!("{:<14} ({ai}) {v}", "ai");
                    }
                }
            }
            (_, Value::Null) => println!("{key:<14} -"),
            (_, Value::String(s)) => println!("{key:<14} {s}"),
            (_, other) => println!("{key:<14} {other}"),
        }
    }
}
