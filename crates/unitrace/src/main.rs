//! The `unitrace` binary: the server, the demo and the CLI verbs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "unitrace",
    version,
    about = "Serialized-inventory and item-level traceability"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Identifiers: GS1 element strings and scan data, Digital Link, EPC URIs, RFID binary.
    #[command(subcommand)]
    Id(cli::id::IdCommand),
    /// EPCIS 2.0 documents (JSON-LD or XML, 1.2 XML in): validate, convert, hash.
    #[command(subcommand)]
    Epcis(cli::epcis::EpcisCommand),
    /// Serve the EPCIS 2.0 REST API, the unit-centred API and the Digital Link resolver.
    Serve(cli::serve::ServeArgs),
    /// Load the demo dataset and serve it (`serve --demo`).
    Demo(cli::serve::ServeArgs),
    /// Benchmarks of whole subsystems (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
    #[command(flatten)]
    OpsA(cli::ops_a::OpsACommand),
    #[command(flatten)]
    OpsB(cli::ops_b::OpsBCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Id(cmd) => cli::id::run(cmd).map(|()| true),
        Command::Epcis(cmd) => cli::epcis::run(cmd),
        Command::Serve(args) => cli::serve::run(args),
        Command::Bench(cmd) => cli::bench::run(cmd).map(|()| true),
        Command::OpsA(cmd) => cli::ops_a::run(cmd),
        Command::OpsB(cmd) => cli::ops_b::run(cmd),
        Command::Demo(mut args) => {
            args.demo = true;
            cli::serve::run(args)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        // Problems were already printed, one per line.
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            // One line on stderr naming what is wrong; nothing on stdout.
            let msg = format!("{err:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
