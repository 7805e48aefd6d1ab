//! `linli-admin-bench`: the admin console at scale (no assertions; run it
//! in release mode: `cargo run --release -p linli-tests --bin
//! linli-admin-bench -- --checkins 100000 --requests 100000`).
//!
//! A real server on 127.0.0.1 with `--checkins` check-ins and `--requests`
//! requests of one hall written straight into its projection (spread over
//! `--days`), then each console page and export fetched over HTTP by a
//! signed-in central admin, `--runs` times; prints the median and the worst
//! time to the last byte, and the size.

use std::time::Duration;

use clap::Parser;

/// Admin console benchmarks.
#[derive(Parser, Debug)]
#[command(name = "linli-admin-bench", version, about)]
struct Args {
    /// Projected check-ins.
    #[arg(long, default_value_t = 100_000)]
    checkins: u32,
    /// Projected requests.
    #[arg(long, default_value_t = 100_000)]
    requests: u32,
    /// Days the rows are spread over.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Runs per figure (the median is printed).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let figures =
        linli_tests::console_bench::measure(args.checkins, args.requests, args.days, args.runs)
            .await?;
    println!(
        "console over {} check-ins and {} requests ({} days), {} runs each",
        args.checkins, args.requests, args.days, args.runs
    );
    println!("| page | median | worst | bytes |");
    println!("| --- | --- | --- | --- |");
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    for f in figures {
        println!(
            "| {} | {} | {} | {} |",
            f.label,
            ms(f.median),
            ms(f.worst),
            f.bytes
        );
    }
    Ok(())
}
