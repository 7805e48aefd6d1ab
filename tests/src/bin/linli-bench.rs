//! `linli-bench`: prints the foundation's figures (no assertions; run it
//! in release mode: `cargo run --release -p linli-tests --bin linli-bench`).
//!
//! 1. Check-in commit latency on the kiosk store (p50/p99 over `--commits`),
//!    `synchronous=FULL`, on this machine's disk.
//! 2. A kiosk with `--checkins` offline check-ins reconnecting: seconds
//!    until the server's API shows all, and bytes sent versus the ledger's
//!    saved size on the kiosk.

use std::time::{Duration, Instant};

use clap::Parser;
use linli_core::node::{NewCheckIn, ResidentInput};
use linli_tests::{TestKiosk, TestServer, test_phone};

/// Linli foundation benchmarks.
#[derive(Parser, Debug)]
#[command(name = "linli-bench", version, about)]
struct Args {
    /// Check-ins timed one by one for commit latency.
    #[arg(long, default_value_t = 1000)]
    commits: usize,
    /// Offline check-ins before reconnecting.
    #[arg(long, default_value_t = 10_000)]
    checkins: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn progress(label: &str, done: usize, total: usize) {
    if done == total || done.is_multiple_of((total / 20).max(1)) {
        eprint!("\r{label}: {done}/{total}");
        if done == total {
            eprintln!();
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = TestServer::start().await?;

    // 1. Commit latency.
    let kiosk = TestKiosk::pair(&server, "xianfeng", false).await?;
    let mut lat = Vec::with_capacity(args.commits);
    for i in 0..args.commits {
        let t = Instant::now();
        kiosk
            .node()
            .record_checkin(NewCheckIn {
                activity_id: "bench-activity".into(),
                resident: Some(ResidentInput {
                    phone: test_phone(90, i)?,
                    name: None,
                }),
                headcount: 1,
                companions: 0,
            })
            .await?;
        lat.push(t.elapsed());
        progress("commit latency", i + 1, args.commits);
    }
    lat.sort();
    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| check-in commit latency p50 (FULL sync, n={}) | {:.2} ms |",
        args.commits,
        percentile(&lat, 0.5).as_secs_f64() * 1e3
    );
    println!(
        "| check-in commit latency p99 | {:.2} ms |",
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );

    // 2. Offline kiosk reconnecting.
    let offline = TestKiosk::pair(&server, "tuanjiexiang", false).await?;
    let t = Instant::now();
    let chunk = (args.checkins / 20).max(1);
    let mut done = 0;
    while done < args.checkins {
        let n = chunk.min(args.checkins - done);
        for i in done..done + n {
            offline
                .node()
                .record_checkin(NewCheckIn {
                    activity_id: "bench-activity".into(),
                    resident: Some(ResidentInput {
                        phone: test_phone(91, i)?,
                        name: None,
                    }),
                    headcount: 1,
                    companions: 0,
                })
                .await?;
        }
        done += n;
        progress("recording offline", done, args.checkins);
    }
    let record_secs = t.elapsed().as_secs_f64();
    let today = offline.node().local_date(offline.node().now_ms());
    let ledger = offline.node().ledger_id(&today).await?.unwrap_or_default();
    let saved = offline.node().document_bytes(&ledger).await?;
    let t = Instant::now();
    offline.node().go_online()?;
    server
        .api
        .wait_checkins_within(
            "tuanjiexiang",
            args.checkins as u64,
            Duration::from_secs(1800),
        )
        .await?;
    let converge = t.elapsed().as_secs_f64();
    let sent = offline.node().bytes_sent();
    println!(
        "| recording {} offline check-ins | {record_secs:.1} s |",
        args.checkins
    );
    println!(
        "| reconnect: seconds until the server API shows all {} | {converge:.2} s |",
        args.checkins
    );
    println!("| bytes sent on reconnect | {sent} |");
    println!("| ledger saved size on the kiosk | {saved} |");
    println!(
        "| bytes sent / saved size | {:.2} |",
        sent as f64 / saved.max(1) as f64
    );
    Ok(())
}
