//! `linli-sim`: K simulated kiosks against a real server. Provisions the
//! kiosks through the API, has each record N check-ins (first while
//! disconnected, with `--offline-first`), connects, waits until the
//! server's API shows every record, and prints one summary line. A wrong
//! count exits non-zero. The tool for demos, load and benchmarks.
//!
//! `linli-sim soak --kiosks 200 --minutes 30` starts its own server
//! process on loopback and runs many kiosks for a long time (see
//! `linli_tests::soak`): errors, reconnects and the server's memory over
//! time, and every acknowledged record checked at the end.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use linli_core::KioskNode;
use linli_test_kit::{Api, TestKiosk, test_options};
use url::Url;

/// Simulate kiosks recording check-ins against a Linli server.
#[derive(Parser, Debug)]
#[command(name = "linli-sim", version, about)]
struct Args {
    /// The server, e.g. http://127.0.0.1:7878
    #[arg(long)]
    server: Url,
    /// An admin API token (see `linli-server admin token`).
    #[arg(long, env = "LINLI_ADMIN_TOKEN")]
    admin_token: String,
    /// The hall to provision the kiosks in.
    #[arg(long)]
    hall: String,
    /// Number of kiosks.
    #[arg(long, default_value_t = 2)]
    kiosks: usize,
    /// Check-ins per kiosk.
    #[arg(long, default_value_t = 100)]
    checkins: usize,
    /// Record everything while disconnected, then connect.
    #[arg(long)]
    offline_first: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

/// `linli-sim soak`: many kiosks, a long time, memory over time.
#[derive(Parser, Debug)]
#[command(name = "linli-sim soak", about)]
struct SoakArgs {
    /// Kiosks (two halls).
    #[arg(long, default_value_t = 200)]
    kiosks: usize,
    /// Minutes to run.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seconds between one kiosk's check-ins.
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Chance per check-in that a kiosk drops its connection for a while.
    #[arg(long, default_value_t = 0.02)]
    disconnect_chance: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 60.0)]
    sample: f64,
}

async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    let node_bin = linli_tests::fault::node_bin()?;
    println!("| minute | server RSS (MiB) | acknowledged | projected | errors | reconnects |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let report = linli_tests::soak::run(
        &linli_tests::soak::Soak {
            kiosks: args.kiosks,
            duration: Duration::from_secs_f64(args.minutes * 60.0),
            interval: Duration::from_secs_f64(args.interval),
            disconnect_chance: args.disconnect_chance,
            sample: Duration::from_secs_f64(args.sample),
            node_bin,
        },
        |x| {
            println!(
                "| {:.1} | {:.1} | {} | {} | {} | {} |",
                x.at_s / 60.0,
                x.rss_kib as f64 / 1024.0,
                x.acknowledged,
                x.projected,
                x.errors,
                x.reconnects
            );
        },
    )
    .await?;
    let rss: Vec<f64> = report
        .samples
        .iter()
        .map(|x| x.rss_kib as f64 / 1024.0)
        .collect();
    let half = &rss[rss.len() / 2..];
    let peak = rss.iter().copied().fold(0.0, f64::max);
    println!(
        "server RSS: first {:.1} MiB, last {:.1} MiB, peak {peak:.1} MiB; second half {:.1} → {:.1} MiB",
        rss.first().copied().unwrap_or(0.0),
        rss.last().copied().unwrap_or(0.0),
        half.first().copied().unwrap_or(0.0),
        half.last().copied().unwrap_or(0.0),
    );
    println!("lost {}, extra {}", report.lost, report.extra);
    if report.lost > 0 || report.extra > 0 {
        bail!(
            "{} acknowledged records missing, {} extra",
            report.lost,
            report.extra
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    linli_test_kit::init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::args().nth(1).as_deref() == Some("soak") {
        let args = SoakArgs::parse_from(std::env::args().skip(1));
        return match rt.block_on(soak(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let args = Args::parse();
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.kiosks == 0 {
        bail!("--kiosks must be at least 1");
    }
    let api = Api::new(args.server.clone(), args.admin_token.clone());
    let before = api
        .checkin_count(&args.hall)
        .await
        .context("reading the hall's check-ins (is the token right?)")?;
    let mut kiosks = Vec::new();
    for i in 0..args.kiosks {
        let (id, token) = api.add_kiosk(&args.hall, &format!("sim-{i}")).await?;
        let dir = tempfile::tempdir()?;
        let mut options = test_options(dir.path());
        options.connect = !args.offline_first;
        let node = KioskNode::pair(options, &args.server, &token).await?;
        kiosks.push(TestKiosk::from_parts(node, id, token, dir));
    }
    let activity = "sim-activity";
    let started = Instant::now();
    let results = futures::future::join_all(kiosks.iter().enumerate().map(|(i, k)| {
        k.record_checkins(activity, args.checkins, u32::try_from(i).unwrap_or(0) + 1)
    }))
    .await;
    for r in results {
        r?;
    }
    let connect_at = Instant::now();
    if args.offline_first {
        for k in &kiosks {
            k.node().go_online()?;
        }
    }
    let sent = (args.kiosks * args.checkins) as u64;
    let want = before + sent;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let seen = loop {
        let n = api.checkin_count(&args.hall).await?;
        if n >= want || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let converge = if args.offline_first {
        connect_at.elapsed()
    } else {
        started.elapsed()
    };
    let bytes: u64 = kiosks.iter().map(|k| k.node().bytes_sent()).sum();
    println!(
        "kiosks={} sent={sent} seen={} seconds={:.2} bytes_sent={bytes}",
        args.kiosks,
        seen - before,
        converge.as_secs_f64()
    );
    for mut k in kiosks {
        k.power_off().await;
    }
    if seen != want {
        bail!("the server shows {} of {sent} records", seen - before);
    }
    Ok(())
}
