//! The `unitrace` binary: the server, the demo and the CLI verbs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Check GS1 check digits (placeholder verb until `id` lands).
    CheckDigit {
        /// Digits without their check digit.
        body: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckDigit { body } => {
            match unitrace_id::check::gs1_check_digit(body.as_bytes()) {
                Some(d) => {
                    println!("{}", d as char);
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("not all digits: {body:?}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
