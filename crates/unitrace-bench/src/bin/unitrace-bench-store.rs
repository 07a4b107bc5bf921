use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: unitrace_bench::BenchStoreArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    unitrace_bench::run_store(cli.args).await?;
    Ok(())
}
