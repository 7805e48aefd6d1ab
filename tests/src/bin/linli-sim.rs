//! `linli-sim`: K simulated kiosks against a real server. Provisions the
//! kiosks through the API, has each record N check-ins (first while
//! disconnected, with `--offline-first`), connects, waits until the
//! server's API shows every record, and prints one summary line. A wrong
//! count exits non-zero. The tool for demos, load and benchmarks.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use linli_core::KioskNode;
use linli_tests::{Api, TestKiosk, test_options};
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

fn main() -> ExitCode {
    linli_tests::init_logging();
    let args = Args::parse();
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
