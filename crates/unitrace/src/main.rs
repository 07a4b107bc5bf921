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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Id(cmd) => cli::id::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line on stderr naming what is wrong; nothing on stdout.
            let msg = format!("{err:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
