//! `linli-node`: one Linli process for the fault runner to start, feed,
//! `kill -9` and restart.
//!
//! - `linli-node server --data-dir D --listen 127.0.0.1:P [--database-url U]`: the sync server
//!   (the same `prepare` + `serve` as `linli-server serve`).
//! - `linli-node kiosk --data-dir D [--server URL --token T]`: a headless
//!   kiosk (`KioskNode`), paired on first start, that reads commands on
//!   stdin and answers on stdout, one line each:
//!   - `record N` → `ack <record id>` per check-in on disk, then `done`;
//!   - `skew H` → its clock runs H hours off from now on, `ok`;
//!   - `redeem PHONE ITEM POINTS` → one redemption at the hall's 爱心超市:
//!     `redeemed <record id>` once on disk, `refused` when this kiosk
//!     holds too little (or the catalogue does not offer it so), or
//!     `err …`;
//!   - `points PHONE` → `points <n>`: the volunteer's points this kiosk
//!     may redeem now;
//!   - `heads` → `heads <doc id> <h1,h2,…>` per open document, then `end`;
//!   - `status` → `status <online> <waiting>`.
//!
//! It prints `ready` once it can take commands.

use std::{
    io::Write,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use clap::{Parser, Subcommand};
use linli_core::{
    KioskNode, KioskNodeOptions,
    node::{CheckInOutcome, NewCheckIn, Redemption},
    phone::PhoneNumber,
};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser, Debug)]
#[command(name = "linli-node", version, about)]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// The sync server.
    Server {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Seconds a hall's documents stay in memory after the last use.
        #[arg(long)]
        unload_idle_after: Option<u64>,
        /// Keep everything in this PostgreSQL database, not in `data_dir`.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// A headless kiosk driven over stdin.
    Kiosk {
        #[arg(long)]
        data_dir: PathBuf,
        /// Server to pair with (first start only).
        #[arg(long)]
        server: Option<url::Url>,
        /// Pairing token (first start only).
        #[arg(long)]
        token: Option<String>,
    },
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Args::parse().role {
        Role::Server {
            data_dir,
            listen,
            unload_idle_after,
            database_url,
        } => server(data_dir, listen, unload_idle_after, database_url).await,
        Role::Kiosk {
            data_dir,
            server,
            token,
        } => kiosk(data_dir, server, token).await,
    }
}

async fn server(
    data_dir: PathBuf,
    listen: std::net::SocketAddr,
    unload_idle_after: Option<u64>,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    let mut config = linli_sync_server::ServeConfig::new(data_dir);
    config.database_url = database_url;
    if let Some(s) = unload_idle_after {
        config.unload_idle_after = std::time::Duration::from_secs(s);
    }
    let ready = linli_sync_server::prepare(&config).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let stop = linli_sync_server::shutdown_signal();
    println!("ready");
    std::io::stdout().flush()?;
    linli_sync_server::serve(ready, listener, stop).await?;
    Ok(())
}

async fn kiosk(
    data_dir: PathBuf,
    server: Option<url::Url>,
    token: Option<String>,
) -> anyhow::Result<()> {
    let skew = Arc::new(AtomicI64::new(0));
    let mut options = KioskNodeOptions::new(&data_dir);
    let s = skew.clone();
    options.clock =
        Arc::new(move || chrono::Utc::now().timestamp_millis() + s.load(Ordering::Relaxed));
    options.backoff.max_delay = std::time::Duration::from_millis(500);
    let node = if KioskNode::is_provisioned(&data_dir).await? {
        KioskNode::open(options).await?
    } else {
        let (Some(server), Some(token)) = (server, token) else {
            anyhow::bail!("not paired yet: give --server and --token");
        };
        KioskNode::pair(options, &server, &token).await?
    };
    node.go_online()?;
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("record"), Some(n)) => {
                for _ in 0..n.parse::<u32>()? {
                    let outcome = node
                        .record_checkin(NewCheckIn {
                            activity_id: "fault-activity".into(),
                            resident: None,
                            headcount: 1,
                            companions: 0,
                        })
                        .await;
                    match outcome {
                        Ok(CheckInOutcome::Recorded(id)) => writeln!(out, "ack {id}")?,
                        Ok(CheckInOutcome::AlreadyCheckedIn) => writeln!(out, "dup")?,
                        Err(e) => writeln!(out, "err {e}")?,
                    }
                    out.flush()?;
                }
                writeln!(out, "done")?;
            }
            (Some("redeem"), Some(phone)) => {
                let (item, points) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let phone = PhoneNumber::parse(phone)?;
                match node.redeem(&phone, item, points.parse()?).await {
                    Ok(Redemption::Redeemed { id, .. }) => writeln!(out, "redeemed {id}")?,
                    Ok(Redemption::Refused { .. } | Redemption::NotOffered) => {
                        writeln!(out, "refused")?
                    }
                    Err(e) => writeln!(out, "err {e}")?,
                }
            }
            (Some("points"), Some(phone)) => {
                let here = node.points_here(&PhoneNumber::parse(phone)?).await?;
                writeln!(out, "points {here}")?;
            }
            (Some("skew"), Some(h)) => {
                skew.store(h.parse::<i64>()? * 3_600_000, Ordering::Relaxed);
                writeln!(out, "ok")?;
            }
            (Some("heads"), _) => {
                for (doc, heads) in node.open_document_heads().await {
                    writeln!(out, "heads {doc} {}", heads.join(","))?;
                }
                writeln!(out, "end")?;
            }
            (Some("status"), _) => {
                let st = node.status().borrow().clone();
                writeln!(out, "status {} {}", st.online, st.waiting)?;
            }
            _ => writeln!(out, "err unknown command {line:?}")?,
        }
        out.flush()?;
    }
    node.shutdown().await;
    Ok(())
}
