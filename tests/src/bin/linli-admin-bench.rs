//! `linli-admin-bench`: the admin console at scale (no assertions; run it
//! in release mode: `cargo run --release -p linli-tests --bin
//! linli-admin-bench -- --checkins 100000 --requests 100000`).
//!
//! A real server on 127.0.0.1 with `--checkins` check-ins and `--requests`
//! requests of one hall written straight into its projection (spread over
//! `--days`), then each console page and export fetched over HTTP by a
//! signed-in central admin, `--runs` times; prints the median and the worst
//! time to the last byte, and the size.

use std::time::{Duration, Instant};

use clap::Parser;
use linli_tests::{
    TestServer,
    seed::{Seed, seed_projection},
};

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
    let server = TestServer::start().await?;
    let core = server.core()?;
    let seed = Seed {
        hall: "xianfeng".into(),
        kiosk: "bench-kiosk".into(),
        activity: "bench-activity".into(),
        checkins: args.checkins,
        requests: args.requests,
        days: args.days,
        now_ms: linli_sync_server::server::now_ms(),
    };
    let t = Instant::now();
    core.db
        .run(move |c| {
            seed_projection(c, &seed).map_err(|e| linli_sync_server::Error::db("seeding", e))
        })
        .await?;
    eprintln!("seeded in {:.1} s", t.elapsed().as_secs_f64());

    let (http, cookie) = linli_tests::console_session(&server, "admin", "bench password").await?;

    println!(
        "console over {} check-ins and {} requests ({} days), {} runs each",
        args.checkins, args.requests, args.days, args.runs
    );
    println!("| page | median | worst | bytes |");
    println!("| --- | --- | --- | --- |");
    let pages = [
        ("overview", "admin"),
        ("statistics, 30 days", "admin/stats?hall=xianfeng"),
        (
            "statistics, whole range",
            "admin/stats?hall=xianfeng&from=2000-01-01&to=2100-01-01",
        ),
        ("requests (newest 500)", "admin/requests?hall=xianfeng"),
        ("kiosks", "admin/kiosks"),
        ("requests CSV (all)", "admin/requests.csv?hall=xianfeng"),
        ("XLSX workbook (all)", "admin/export.xlsx?hall=xianfeng"),
    ];
    for (label, path) in pages {
        let mut times = Vec::with_capacity(args.runs);
        let mut bytes = 0;
        for _ in 0..args.runs {
            let t = Instant::now();
            let resp = http
                .get(server.url.join(path)?)
                .header("cookie", &cookie)
                .send()
                .await?;
            anyhow::ensure!(resp.status() == 200, "{path}: {}", resp.status());
            bytes = resp.bytes().await?.len();
            times.push(t.elapsed());
        }
        times.sort();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        println!(
            "| {label} | {} | {} | {bytes} |",
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
    Ok(())
}
