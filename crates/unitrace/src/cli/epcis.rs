//! `unitrace epcis`: validate, convert and hash EPCIS documents (JSON-LD or XML, detected from
//! the content). The output shapes are a contract other tools depend on (see issue #3).

use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use unitrace_epcis::{EpcFormat, Format};

#[derive(Subcommand)]
pub enum EpcisCommand {
    /// Validate a document: exit 0 when valid; exit 1 with one line per problem on stderr.
    Validate {
        /// A file, or `-` for standard input.
        file: String,
    },
    /// Convert a document to JSON-LD or XML; the document goes to standard output.
    Convert {
        #[arg(long, value_enum)]
        to: ToFormat,
        /// Rewrite identifiers in EPC fields as EPC URNs or GS1 Digital Links (default: as given).
        #[arg(long = "epc-format", value_enum)]
        epc_format: Option<EpcFormatArg>,
        /// A file, or `-` for standard input.
        file: String,
    },
    /// Print each event's hash ID (`ni:///sha-256;...?ver=CBV2.0`), one line per event, in order.
    Hash {
        /// A file, or `-` for standard input.
        file: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ToFormat {
    Json,
    Xml,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum EpcFormatArg {
    /// EPC URNs (`urn:epc:id:...`) where the identifier has one (GS1-EPC-Format: Always_EPC_URN).
    Urn,
    /// Canonical GS1 Digital Links (GS1-EPC-Format: Always_GS1_Digital_Link).
    Dl,
}

/// The largest document the CLI reads (the server has its own, smaller capture limit).
const MAX_DOCUMENT_BYTES: u64 = 4 << 30;

/// Runs the verb. `Ok(false)` means the document was read but is invalid (problems already
/// printed); the caller exits with status 1.
pub fn run(cmd: EpcisCommand) -> Result<bool> {
    match cmd {
        EpcisCommand::Validate { file } => {
            let bytes = read_input(&file)?;
            match unitrace_epcis::validate_document(&bytes) {
                Ok(()) => Ok(true),
                Err(problems) => {
                    let mut err = std::io::stderr().lock();
                    for p in problems {
                        writeln!(err, "{}", p.to_string().replace('\n', " "))?;
                    }
                    Ok(false)
                }
            }
        }
        EpcisCommand::Convert {
            to,
            epc_format,
            file,
        } => {
            let bytes = read_input(&file)?;
            let to = match to {
                ToFormat::Json => Format::Json,
                ToFormat::Xml => Format::Xml,
            };
            let epc_format = match epc_format {
                None => EpcFormat::AsIs,
                Some(EpcFormatArg::Urn) => EpcFormat::Urn,
                Some(EpcFormatArg::Dl) => EpcFormat::DigitalLink,
            };
            let out =
                unitrace_epcis::convert(&bytes, to, epc_format).map_err(|e| anyhow!("{e}"))?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&out)?;
            if !out.ends_with(b"\n") {
                stdout.write_all(b"\n")?;
            }
            Ok(true)
        }
        EpcisCommand::Hash { file } => {
            let bytes = read_input(&file)?;
            let hashes = unitrace_epcis::hash_document(&bytes).map_err(|e| anyhow!("{e}"))?;
            let mut stdout = std::io::stdout().lock();
            for h in hashes {
                writeln!(stdout, "{h}")?;
            }
            Ok(true)
        }
    }
}

fn read_input(file: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if file == "-" {
        std::io::stdin()
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        std::fs::File::open(file)
            .with_context(|| format!("{file}: cannot open"))?
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("{file}: cannot read"))?;
    }
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        bail!("{file}: larger than {MAX_DOCUMENT_BYTES} bytes");
    }
    Ok(bytes)
}
