//! `unitrace bench ...`: benchmarks that measure whole subsystems (figures go in BENCHMARKS.md).

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// The event store: durable capture (500-EPC and 1-EPC events, concurrent writers) against
    /// the engine's plainest bulk path, timeline latency and recall scope on a loaded store.
    /// Prints one JSON object.
    Store(unitrace_bench::BenchStoreArgs),
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Store(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(unitrace_bench::run_store(args))?;
            Ok(())
        }
    }
}
