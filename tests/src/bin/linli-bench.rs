//! `linli-bench`: prints figures as a table, each the median of `--runs`
//! runs, ratios taken within the same run (no assertions). Build in release
//! mode with the other binaries it starts:
//! `cargo build --release -p linli-tests --bins && target/release/linli-bench`
//! (`--json`: one JSON object per line per figure, ratios under `"ratio"`).
//!
//! 1. Tap to disk: check-in commit latency on the kiosk store (p50/p99
//!    over `--commits`) versus a bare SQLite WAL insert with the same
//!    `synchronous=FULL` in the same directory, both at a hall's pace
//!    (a pause before each, see [`HALL_PACE`]).
//! 2. Reconnect: a kiosk with `--checkins` offline check-ins reconnecting:
//!    seconds until the server's API shows all, versus Automerge alone
//!    applying the same changes in memory; bytes sent versus the ledger's
//!    saved size.
//! 3. Against the Node.js sync server: `--versus-kiosks` samod clients ×
//!    `--versus-checkins` check-ins, against linli-server and
//!    `@automerge/automerge-repo-sync-server` (see `linli_tests::versus`):
//!    kiosks that wrote offline reconnecting with whole ledgers. Beside it,
//!    the connected workload: `--connected-kiosks` kiosks of one hall each
//!    writing `--connected-records` check-ins one at a time while
//!    connected, through the JavaScript automerge-repo client from npm
//!    (see `linli_tests::connected`): server CPU per record, convergence,
//!    sync latency, and the client's own CPU.
//! 4. Many kiosks: `--many-kiosks` connected at once (`--many-per-hall` to
//!    a hall), each recording one check-in a second for `--many-seconds`
//!    (see `linli_tests::many`): sync
//!    latency p50/p99, server memory, errors. One run (it is long).
//! 5. Years of documents: `--years-halls` × `--years-kiosks` kiosks ×
//!    `--years-days` ledgers seeded into a server's store (see
//!    `linli_tests::years`): restart time, memory once idle, memory after
//!    every kiosk synced once. One run.
//! 6. Admin at scale: statistics pages and the XLSX export over
//!    `--admin-checkins` projected check-ins (see
//!    `linli_tests::console_bench`).
//! 7. The server's own tables on SQLite and on PostgreSQL (`--tables-ops`,
//!    see `linli_tests::tables_bench`).
//! 8. One server, two stores: `--stores-kiosks` clients × `--stores-checkins`
//!    check-ins reconnecting (the workload of 3) to a `linli-node server` on
//!    its SQLite file, then on a PostgreSQL the bench starts (fsync on, as
//!    SQLite's full sync): records per second and server CPU per record.
//! 9. Scale-out: the same workload (`--scale-kiosks` × `--scale-checkins`,
//!    over `--scale-halls` halls) against 1, 2 and 3 `linli-node server`
//!    instances on one PostgreSQL, the kiosks of each hall spread over the
//!    instances as a load balancer spreads them: records per second and the
//!    ratio to one instance. Every process (instances, PostgreSQL, the
//!    load generator) shares the machine, so on a 2-core machine the ratio
//!    says what relaying costs, not what more machines would add. Then
//!    failover (`linli_tests::failover`): seconds from `kill -9` of a
//!    hall's holder behind HAProxy until the hall is served again.

use std::time::{Duration, Instant};

use clap::Parser;
use linli_core::node::{NewCheckIn, ResidentInput};
use linli_test_kit::{TestKiosk, TestServer, test_phone};
use linli_tests::{connected, console_bench, many, versus, years};
use serde_json::json;

/// Linli benchmarks.
#[derive(Parser, Debug)]
#[command(name = "linli-bench", version, about)]
struct Args {
    /// Check-ins timed one by one for commit latency (0 leaves it out).
    #[arg(long, default_value_t = 1000)]
    commits: usize,
    /// Offline check-ins before reconnecting (0 leaves it out).
    #[arg(long, default_value_t = 10_000)]
    checkins: usize,
    /// Clients against each server in the side-by-side run (0 leaves it
    /// out).
    #[arg(long, default_value_t = 50)]
    versus_kiosks: usize,
    /// Check-ins per client in the side-by-side run.
    #[arg(long, default_value_t = 1000)]
    versus_checkins: usize,
    /// Kiosks of one hall writing while connected, through the JavaScript
    /// automerge-repo client, against each server (0 leaves it out).
    #[arg(long, default_value_t = 50)]
    connected_kiosks: usize,
    /// Check-ins each of them writes, one at a time.
    #[arg(long, default_value_t = 200)]
    connected_records: usize,
    /// Runs of each figure (the median is printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Leave out the run against the Node.js server.
    #[arg(long)]
    no_node: bool,
    /// Kiosks connected at once in the many-kiosks run (0 leaves it out).
    #[arg(long, default_value_t = 1000)]
    many_kiosks: usize,
    /// Seconds the many-kiosks run records (one check-in a second each).
    #[arg(long, default_value_t = 60)]
    many_seconds: u64,
    /// Kiosks per hall in the many-kiosks run (a hall has a few).
    #[arg(long, default_value_t = 5)]
    many_per_hall: usize,
    /// Halls in the years-of-documents run (0 leaves it out).
    #[arg(long, default_value_t = 100)]
    years_halls: usize,
    /// Kiosks per hall in the years-of-documents run.
    #[arg(long, default_value_t = 5)]
    years_kiosks: usize,
    /// Days of ledgers per kiosk in the years-of-documents run.
    #[arg(long, default_value_t = 365)]
    years_days: usize,
    /// Projected check-ins under the admin console (0 leaves it out).
    #[arg(long, default_value_t = 2_000_000)]
    admin_checkins: u32,
    /// Kiosks provisioned, token checks and document claims on the
    /// server's own tables, on SQLite and on PostgreSQL (0 skips).
    #[arg(long, default_value_t = 2000)]
    tables_ops: usize,
    /// Clients reconnecting with their ledgers to one linli-server on
    /// SQLite, then on a PostgreSQL the bench starts (0 skips).
    #[arg(long, default_value_t = 50)]
    stores_kiosks: usize,
    /// Check-ins in each of those ledgers.
    #[arg(long, default_value_t = 200)]
    stores_checkins: usize,
    /// Clients reconnecting with their ledgers to 1, 2 and 3 instances on
    /// one PostgreSQL (0 skips).
    #[arg(long, default_value_t = 60)]
    scale_kiosks: usize,
    /// Check-ins in each of those ledgers.
    #[arg(long, default_value_t = 200)]
    scale_checkins: usize,
    /// Halls those clients are in.
    #[arg(long, default_value_t = 12)]
    scale_halls: usize,
    /// Print one JSON object per line per figure instead of the table.
    #[arg(long)]
    json: bool,
    /// Where the Node.js server's npm package is (`node_modules` is
    /// installed there with `npm ci` when missing); default `tests/bench-node`.
    #[arg(long)]
    node_package: Option<std::path::PathBuf>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Over side-by-side runs (linli's outcome, Node's): the median of
/// `figure` for each server and the median of their `ratio` within a run.
fn medians<O>(
    pairs: &[(O, O)],
    figure: impl Fn(&O) -> f64,
    ratio: impl Fn(f64, f64) -> f64,
) -> (f64, f64, f64) {
    (
        median(pairs.iter().map(|p| figure(&p.0)).collect()),
        median(pairs.iter().map(|p| figure(&p.1)).collect()),
        median(
            pairs
                .iter()
                .map(|p| ratio(figure(&p.0), figure(&p.1)))
                .collect(),
        ),
    )
}

fn progress(label: &str, done: usize, total: usize) {
    if done == total || done.is_multiple_of((total / 20).max(1)) {
        eprint!("\r{label}: {done}/{total}");
        if done == total {
            eprintln!();
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50 and p99 of the kiosk's check-in commit, and of a bare SQLite WAL
/// insert with the same synchronous setting in the same directory.
struct TapToDisk {
    kiosk: (f64, f64),
    bare: (f64, f64),
}

/// Untimed commits before the timed ones.
const WARM_UP: usize = 100;

/// The pause before each timed commit, kiosk and bare alike: residents
/// tap seconds apart, and a commit that follows another within
/// microseconds finds the disk's queue and the filesystem's journal still
/// busy from it (on this kind of machine a back-to-back FULL insert takes
/// a quarter of the time one after a pause does). Timing one kind back to
/// back and the other not would compare the pause, not the stores.
const HALL_PACE: Duration = Duration::from_millis(20);

async fn tap_to_disk(server: &TestServer, commits: usize) -> anyhow::Result<TapToDisk> {
    let kiosk = TestKiosk::pair(server, "xianfeng", false).await?;
    let mut lat = Vec::with_capacity(commits);
    // Both stores are warmed up first (the day's ledger made, the WAL
    // grown to its working size): the figures are of a kiosk in service.
    for i in 0..commits + WARM_UP {
        // As at the hall: the resident's number is looked up (their
        // pseudonym made, their part of the record sealed) while the name
        // screen shows, and the tap that commits comes after.
        let phone = test_phone(90, i)?;
        kiosk.node().known_name(&phone).await?;
        tokio::time::sleep(HALL_PACE).await;
        let t = Instant::now();
        kiosk
            .node()
            .record_checkin(NewCheckIn {
                activity_id: "bench-activity".into(),
                resident: Some(ResidentInput { phone, name: None }),
                headcount: 1,
                companions: 0,
            })
            .await?;
        if i >= WARM_UP {
            lat.push(t.elapsed());
        }
        progress("commit latency", i + 1, commits + WARM_UP);
    }
    lat.sort();
    // The bare insert: a row of the size of a journal row, one transaction
    // each, next to the kiosk's own store, at the same pace.
    let db = rusqlite::Connection::open(kiosk.data_dir().join("bare-bench.sqlite3"))?;
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE t (id TEXT PRIMARY KEY, body BLOB NOT NULL);",
    )?;
    let mut bare = Vec::with_capacity(commits);
    for i in 0..commits + WARM_UP {
        let body = vec![7u8; 300];
        tokio::time::sleep(HALL_PACE).await;
        let t = Instant::now();
        db.execute(
            "INSERT INTO t (id, body) VALUES (?1, ?2)",
            rusqlite::params![uuid::Uuid::now_v7().to_string(), body],
        )?;
        if i >= WARM_UP {
            bare.push(t.elapsed());
        }
        progress("bare SQLite insert", i + 1, commits + WARM_UP);
    }
    bare.sort();
    Ok(TapToDisk {
        kiosk: (ms(percentile(&lat, 0.5)), ms(percentile(&lat, 0.99))),
        bare: (ms(percentile(&bare, 0.5)), ms(percentile(&bare, 0.99))),
    })
}

/// A kiosk with `checkins` offline check-ins reconnecting.
struct Reconnect {
    converge_s: f64,
    automerge_s: f64,
    sent: u64,
    saved: u64,
}

async fn reconnect(server: &TestServer, hall: &str, checkins: usize) -> anyhow::Result<Reconnect> {
    let before = server.api.checkin_count(hall).await?;
    let offline = TestKiosk::pair(server, hall, false).await?;
    let chunk = (checkins / 20).max(1);
    let mut done = 0;
    while done < checkins {
        let n = chunk.min(checkins - done);
        for i in done..done + n {
            offline
                .node()
                .record_checkin(NewCheckIn {
                    activity_id: "bench-activity".into(),
                    resident: None,
                    headcount: 1,
                    companions: i as u32 % 3,
                })
                .await?;
        }
        done += n;
        progress("recording offline", done, checkins);
    }
    let today = offline.node().local_date(offline.node().now_ms());
    let ledger = offline.node().ledger_id(&today).await?.unwrap_or_default();
    // Every record is in the ledger before the clock starts (the kiosk
    // writes records into documents just after committing them).
    let saved = offline.node().document_save(&ledger).await?.len() as u64;
    eprintln!("reconnecting");
    let t = Instant::now();
    offline.node().go_online()?;
    // Asked every 5 ms, where the tests' `eventually` asks every 50: the
    // figure is a few tenths of a second, and a coarse poll would add up
    // to 50 ms to it.
    let want = before + checkins as u64;
    while server.api.checkin_count(hall).await? < want {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(1800),
            "the server did not get the {checkins} check-ins within 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let converge_s = t.elapsed().as_secs_f64();
    // Automerge alone: the same changes applied to an empty document.
    let bytes = offline.node().document_save(&ledger).await?;
    let changes = automerge::Automerge::load(&bytes)?.get_changes(&[]);
    let t = Instant::now();
    let mut fresh = automerge::Automerge::new();
    fresh.apply_changes(changes)?;
    let automerge_s = t.elapsed().as_secs_f64();
    Ok(Reconnect {
        converge_s,
        automerge_s,
        sent: offline.node().bytes_sent(),
        saved,
    })
}

/// Where figures go: rows of a Markdown table, or with `--json` one JSON
/// object per line (`{"figure": …, "value": …}` and the figure's numbers,
/// a ratio of two of them under `"ratio"`) for scripts to read.
struct Out {
    json: bool,
}

impl Out {
    fn header(&self, runs: usize) {
        if !self.json {
            println!("| figure (median of {runs} runs unless said) | value |");
            println!("| --- | --- |");
        }
    }

    /// One figure: its name, its value as the table shows it, and its
    /// numbers (a JSON object) for `--json`.
    fn emit(&self, (figure, value): (String, String), numbers: serde_json::Value) {
        if self.json {
            let mut line = serde_json::json!({ "figure": figure, "value": value });
            if let (Some(line), serde_json::Value::Object(numbers)) =
                (line.as_object_mut(), numbers)
            {
                line.extend(numbers);
            }
            println!("{line}");
        } else {
            println!("| {figure} | {value} |");
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = args.runs.max(1);
    let server = TestServer::start().await?;
    // Each figure is printed as soon as it is measured, so a long run that
    // fails late still leaves what it measured.
    let out = Out { json: args.json };
    out.header(runs);

    // 1. Tap to disk.
    if args.commits > 0 {
        let mut taps = Vec::new();
        for _ in 0..runs {
            taps.push(tap_to_disk(&server, args.commits).await?);
        }
        let m = |f: &dyn Fn(&TapToDisk) -> f64| median(taps.iter().map(f).collect());
        let (k50, k99, b50, b99) = (
            m(&|t| t.kiosk.0),
            m(&|t| t.kiosk.1),
            m(&|t| t.bare.0),
            m(&|t| t.bare.1),
        );
        out.emit(
            (
                format!(
                    "tap to disk p50 / p99, n={} (FULL sync, hall pace)",
                    args.commits
                ),
                format!("{k50:.2} / {k99:.2} ms"),
            ),
            json!({ "p50_ms": k50, "p99_ms": k99, "n": args.commits }),
        );
        out.emit(
            (
                "bare SQLite WAL insert p50 / p99 (FULL sync, hall pace)".into(),
                format!("{b50:.2} / {b99:.2} ms"),
            ),
            json!({ "p50_ms": b50, "p99_ms": b99 }),
        );
        let (r50, r99) = (
            median(taps.iter().map(|t| t.kiosk.0 / t.bare.0).collect()),
            median(taps.iter().map(|t| t.kiosk.1 / t.bare.1).collect()),
        );
        out.emit(
            (
                "tap to disk / bare SQLite, p50 / p99".into(),
                format!("{r50:.2}× / {r99:.2}×"),
            ),
            json!({ "ratio": r99, "ratio_p50": r50 }),
        );
    }

    // 2. Reconnect.
    if args.checkins > 0 {
        let mut recs = Vec::new();
        for run in 0..runs {
            // A hall of its own per run, so counts start from zero.
            let hall = ["tuanjiexiang", "xianfeng"][run % 2];
            recs.push(reconnect(&server, hall, args.checkins).await?);
        }
        let r = |f: &dyn Fn(&Reconnect) -> f64| median(recs.iter().map(f).collect());
        let (converge, alone) = (r(&|x| x.converge_s), r(&|x| x.automerge_s));
        out.emit(
            (
                format!(
                    "reconnect: {} offline check-ins on the server",
                    args.checkins
                ),
                format!("{converge:.2} s"),
            ),
            json!({ "seconds": converge, "records": args.checkins }),
        );
        out.emit(
            (
                "Automerge alone applying the same changes".into(),
                format!("{alone:.2} s"),
            ),
            json!({ "seconds": alone }),
        );
        let ratio = r(&|x| x.converge_s / x.automerge_s);
        out.emit(
            ("reconnect / Automerge alone".into(), format!("{ratio:.2}×")),
            json!({ "ratio": ratio }),
        );
        let (sent, saved, ratio) = (
            r(&|x| x.sent as f64),
            r(&|x| x.saved as f64),
            r(&|x| x.sent as f64 / x.saved.max(1) as f64),
        );
        out.emit(
            (
                "bytes sent / the ledger's saved size (Automerge save)".into(),
                format!("{sent:.0} / {saved:.0} = {ratio:.2}"),
            ),
            json!({ "sent_bytes": sent, "saved_bytes": saved, "ratio": ratio }),
        );
    }

    // 3. Against the Node.js sync server.
    if !args.no_node && args.versus_kiosks > 0 {
        let node_bin = linli_tests::fault::node_bin()?;
        let node_package = args
            .node_package
            .clone()
            .unwrap_or_else(versus::node_package_dir);
        let w = versus::Workload {
            kiosks: args.versus_kiosks,
            checkins: args.versus_checkins,
        };
        let mut pairs = Vec::new();
        for run in 0..runs {
            eprintln!("side by side, run {}: linli-server", run + 1);
            let ours = versus::linli(&node_bin, w).await?;
            eprintln!("side by side, run {}: Node.js sync server", run + 1);
            let theirs = versus::node(&node_package, w).await?;
            pairs.push((ours, theirs));
        }
        let label = format!("{} kiosks × {} check-ins", w.kiosks, w.checkins);
        let (ours, theirs, ratio) = medians(&pairs, |o| o.converge_s, |o, t| t / o);
        out.emit(
            (
                format!("{label}: seconds to converge, linli / Node"),
                format!("{ours:.2} / {theirs:.2} s = {ratio:.2}× the Node throughput"),
            ),
            json!({ "linli_s": ours, "node_s": theirs, "ratio": ratio }),
        );
        let (ours, theirs, ratio) = medians(&pairs, |o| o.cpu_s, |o, t| o / t);
        out.emit(
            (
                format!("{label}: server CPU seconds, linli / Node"),
                format!("{ours:.2} / {theirs:.2} = {ratio:.2}"),
            ),
            json!({ "linli_cpu_s": ours, "node_cpu_s": theirs, "ratio": ratio }),
        );
        let (ours, theirs, ratio) =
            medians(&pairs, |o| o.peak_rss_kib as f64 / 1024.0, |o, t| o / t);
        out.emit(
            (
                format!("{label}: server peak RSS, linli / Node"),
                format!("{ours:.0} / {theirs:.0} MiB = {ratio:.2}"),
            ),
            json!({ "linli_mib": ours, "node_mib": theirs, "ratio": ratio }),
        );
    }

    // 3b. The connected workload, against both servers.
    if !args.no_node && args.connected_kiosks > 0 {
        let node_bin = linli_tests::fault::node_bin()?;
        let node_package = args
            .node_package
            .clone()
            .unwrap_or_else(versus::node_package_dir);
        let client = connected::client_dir(&node_package);
        let w = connected::Workload {
            kiosks: args.connected_kiosks,
            records: args.connected_records,
        };
        let mut pairs = Vec::new();
        for run in 0..runs {
            eprintln!("connected, run {}: linli-server", run + 1);
            let ours = connected::linli(&node_bin, &client, w).await?;
            eprintln!("connected, run {}: Node.js sync server", run + 1);
            let theirs = connected::node(&node_package, &client, w).await?;
            pairs.push((ours, theirs));
        }
        let label = format!(
            "connected, {} kiosks × {} check-ins (JS client)",
            w.kiosks, w.records
        );
        let (ours, theirs, ratio) = medians(&pairs, |o| o.cpu_ms_per_record(), |o, t| t / o);
        out.emit(
            (
                format!("{label}: server CPU ms per record, linli / Node"),
                format!("{ours:.3} / {theirs:.3} ms = {ratio:.1}× less CPU a record"),
            ),
            json!({ "linli_ms": ours, "node_ms": theirs, "ratio": ratio }),
        );
        let (ours, theirs, ratio) = medians(&pairs, |o| o.converge_s, |o, t| t / o);
        out.emit(
            (
                format!("{label}: seconds to converge, linli / Node"),
                format!("{ours:.2} / {theirs:.2} s = {ratio:.2}× the Node throughput"),
            ),
            json!({ "linli_s": ours, "node_s": theirs, "ratio": ratio }),
        );
        let (p50, node_p50, _) = medians(&pairs, |o| o.p50_ms, |o, t| t / o);
        let (p99, node_p99, ratio) = medians(&pairs, |o| o.p99_ms, |o, t| t / o);
        out.emit(
            (
                format!("{label}: sync p50 / p99, linli / Node"),
                format!("{p50:.1} / {p99:.1} ms; {node_p50:.1} / {node_p99:.1} ms"),
            ),
            json!({
                "linli_p50_ms": p50, "linli_p99_ms": p99,
                "node_p50_ms": node_p50, "node_p99_ms": node_p99, "ratio": ratio,
            }),
        );
        let (ours, theirs, _) = medians(&pairs, |o| o.client_cpu_s / o.converge_s, |o, t| t / o);
        out.emit(
            (
                format!("{label}: the JS client's CPU share of one core (the load generator)"),
                format!(
                    "{:.0} % / {:.0} % (near 100 %: the client is the bound)",
                    ours * 100.0,
                    theirs * 100.0
                ),
            ),
            json!({ "linli_client_share": ours, "node_client_share": theirs }),
        );
    }

    // 4. Many kiosks.
    if args.many_kiosks > 0 {
        let report = many::run(
            &linli_tests::fault::node_bin()?,
            args.many_kiosks,
            args.many_per_hall,
            Duration::from_secs(args.many_seconds),
            Duration::from_secs(1),
        )
        .await?;
        let label = format!(
            "{} kiosks ({} a hall), a check-in a second each for {} s",
            args.many_kiosks, args.many_per_hall, args.many_seconds
        );
        let (p50, p99) = (
            ms(percentile(&report.latencies, 0.5)),
            ms(percentile(&report.latencies, 0.99)),
        );
        out.emit(
            (
                format!("{label}: sync latency p50 / p99 (one run)"),
                format!(
                    "{p50:.0} / {p99:.0} ms over {} writes",
                    report.latencies.len()
                ),
            ),
            json!({ "p50_ms": p50, "p99_ms": p99, "writes": report.latencies.len() }),
        );
        out.emit(
            (
                format!("{label}: server RSS at the end / peak"),
                format!(
                    "{} / {} MiB",
                    report.end_rss_kib / 1024,
                    report.peak_rss_kib / 1024
                ),
            ),
            json!({ "end_mib": report.end_rss_kib / 1024, "peak_mib": report.peak_rss_kib / 1024 }),
        );
        out.emit(
            (
                format!("{label}: errors (unconfirmed within 10 s); seconds to connect all"),
                format!("{}; {:.1} s", report.errors, report.connect_s),
            ),
            json!({ "errors": report.errors, "connect_s": report.connect_s }),
        );
        let (server_share, clients_share) = (
            report.server_cpu_s / report.write_s.max(1e-9),
            report.clients_cpu_s / report.write_s.max(1e-9),
        );
        out.emit(
            (
                format!("{label}: CPU, server / load generator (cores busy)"),
                format!(
                    "{server_share:.2} / {clients_share:.2} of {} cores, {:.3} ms server CPU a record",
                    std::thread::available_parallelism().map_or(0, usize::from),
                    report.server_cpu_s * 1e3 / report.latencies.len().max(1) as f64
                ),
            ),
            json!({
                "server_cores": server_share,
                "load_generator_cores": clients_share,
                "server_cpu_ms_per_record": report.server_cpu_s * 1e3 / report.latencies.len().max(1) as f64,
            }),
        );
        let per_commit = report.store_writes as f64 / report.store_commits.max(1) as f64;
        out.emit(
            (
                format!("{label}: server store writes / commits (group commit)"),
                format!(
                    "{} / {} = {per_commit:.2} writes a commit",
                    report.store_writes, report.store_commits
                ),
            ),
            json!({
                "writes": report.store_writes,
                "commits": report.store_commits,
                "ratio": per_commit,
            }),
        );
    }

    // 5. Years of documents.
    if args.years_halls > 0 {
        let y = years::run(
            &linli_tests::fault::node_bin()?,
            args.years_halls,
            args.years_kiosks,
            args.years_days,
        )
        .await?;
        let label = format!(
            "{} documents ({} halls × {} kiosks × {} days, {} MiB)",
            y.documents,
            args.years_halls,
            args.years_kiosks,
            args.years_days,
            y.db_bytes >> 20
        );
        out.emit(
            (
                format!("{label}: restart, spawn to ready (one run)"),
                format!("{:.2} s", y.restart_s),
            ),
            json!({ "seconds": y.restart_s, "documents": y.documents }),
        );
        out.emit((
            format!(
                "{label}: server RSS idle / after the kiosks synced once / {} s after they left (halls unloaded after {} s idle)",
                years::AFTER_S,
                years::UNLOAD_AFTER_S
            ),
            format!(
                "{} / {} / {} MiB",
                y.idle_rss_kib / 1024,
                y.synced_rss_kib / 1024,
                y.after_rss_kib / 1024
            ),
        ), json!({
            "idle_mib": y.idle_rss_kib / 1024,
            "synced_mib": y.synced_rss_kib / 1024,
            "after_mib": y.after_rss_kib / 1024,
        }));
        out.emit(
            (
                format!("{label}: kiosks that fetched today's ledger, in seconds"),
                match &y.stalled {
                    None => format!("all {} in {:.1} s", y.synced, y.sync_all_s),
                    Some(why) => format!(
                        "{} in {:.1} s, then a fetch took over 60 s ({why})",
                        y.synced, y.sync_all_s
                    ),
                },
            ),
            json!({ "synced": y.synced, "seconds": y.sync_all_s, "stalled": y.stalled.is_some() }),
        );
    }

    // 6. Admin at scale.
    if args.admin_checkins > 0 {
        let figures = console_bench::measure(args.admin_checkins, 100_000, 365, runs).await?;
        for f in figures
            .iter()
            .filter(|f| f.label.starts_with("statistics") || f.label.starts_with("XLSX"))
        {
            out.emit(
                (
                    format!(
                        "admin over {} check-ins and 100000 requests: {}",
                        args.admin_checkins, f.label
                    ),
                    format!(
                        "{:.0} ms (worst {:.0} ms, {} bytes)",
                        ms(f.median),
                        ms(f.worst),
                        f.bytes
                    ),
                ),
                json!({ "median_ms": ms(f.median), "worst_ms": ms(f.worst), "bytes": f.bytes }),
            );
        }
    }

    // 7. The server's own tables on SQLite and on PostgreSQL.
    if args.tables_ops > 0 {
        for f in linli_tests::tables_bench::measure(args.tables_ops).await? {
            out.emit(
                (
                    format!(
                        "server tables on {} (n={}, single run): kiosks provisioned / token check p50, p99 / documents claimed",
                        f.store, args.tables_ops
                    ),
                    format!(
                        "{:.0}/s / {:.3}, {:.3} ms / {:.0}/s",
                        f.provisions_per_s,
                        ms(f.lookup.0),
                        ms(f.lookup.1),
                        f.claims_per_s
                    ),
                ),
                json!({
                    "store": f.store,
                    "provisions_per_s": f.provisions_per_s,
                    "lookup_p50_ms": ms(f.lookup.0),
                    "lookup_p99_ms": ms(f.lookup.1),
                    "claims_per_s": f.claims_per_s,
                }),
            );
        }
    }

    // 8. One server, the same workload, on each store.
    if args.stores_kiosks > 0 {
        let node_bin = linli_tests::fault::node_bin()?;
        let w = versus::Workload {
            kiosks: args.stores_kiosks,
            checkins: args.stores_checkins,
        };
        // PostgreSQL commits to disk as SQLite's full sync does.
        let pg = tokio::task::spawn_blocking(linli_test_kit::TestPostgres::start_durable).await??;
        for store in ["SQLite", "PostgreSQL"] {
            let mut converge = Vec::new();
            let mut cpu = Vec::new();
            for run in 0..runs {
                eprintln!("one server on {store}, run {}", run + 1);
                let url = match store {
                    "PostgreSQL" => Some(pg.create_database(&format!("linli_run{run}")).await?),
                    _ => None,
                };
                let o = versus::linli_on(&node_bin, w, url.as_deref()).await?;
                converge.push(o.converge_s);
                cpu.push(o.cpu_s);
            }
            let (converge, cpu) = (median(converge), median(cpu));
            let records = (w.kiosks * w.checkins) as f64;
            out.emit(
                (
                    format!(
                        "one linli-server on {store}: {} kiosks × {} check-ins reconnecting: records/s, server CPU ms per record",
                        w.kiosks, w.checkins
                    ),
                    format!(
                        "{:.0}/s ({converge:.2} s), {:.3} ms",
                        records / converge,
                        1000.0 * cpu / records
                    ),
                ),
                json!({
                    "store": store,
                    "records": records,
                    "converge_s": converge,
                    "records_per_s": records / converge,
                    "server_cpu_ms_per_record": 1000.0 * cpu / records,
                }),
            );
        }
    }

    // 9. Several instances on one PostgreSQL.
    if args.scale_kiosks > 0 {
        let node_bin = linli_tests::fault::node_bin()?;
        let w = versus::Workload {
            kiosks: args.scale_kiosks,
            checkins: args.scale_checkins,
        };
        let pg = tokio::task::spawn_blocking(linli_test_kit::TestPostgres::start_durable).await??;
        let records = (w.kiosks * w.checkins) as f64;
        let mut one = None;
        for instances in 1..=3usize {
            let mut converge = Vec::new();
            let mut cpu = Vec::new();
            for run in 0..runs {
                eprintln!("{instances} instance(s) on PostgreSQL, run {}", run + 1);
                let url = pg
                    .create_database(&format!("linli_scale{instances}_{run}"))
                    .await?;
                let o = versus::linli_instances(&node_bin, w, &url, instances, args.scale_halls)
                    .await?;
                converge.push(o.converge_s);
                cpu.push(o.cpu_s);
            }
            let (converge, cpu) = (median(converge), median(cpu));
            let rate = records / converge;
            let ratio = rate / *one.get_or_insert(rate);
            out.emit(
                (
                    format!(
                        "{instances} instance(s) on one PostgreSQL: {} kiosks × {} check-ins over {} halls: records/s (ratio to 1), CPU ms per record",
                        w.kiosks, w.checkins, args.scale_halls
                    ),
                    format!(
                        "{rate:.0}/s ({ratio:.2}×, {converge:.2} s), {:.3} ms",
                        1000.0 * cpu / records
                    ),
                ),
                json!({
                    "instances": instances,
                    "records": records,
                    "converge_s": converge,
                    "records_per_s": rate,
                    "ratio_to_one": ratio,
                    "server_cpu_ms_per_record": 1000.0 * cpu / records,
                }),
            );
        }
        // Failover: the hall's holder killed during a burst, behind HAProxy.
        let mut moved = Vec::new();
        for run in 0..runs {
            eprintln!("failover, run {}", run + 1);
            let f = linli_tests::failover::kill_the_holder(&node_bin, 2).await?;
            anyhow::ensure!(
                f.rows == f.acknowledged && f.distinct == f.acknowledged,
                "failover lost or doubled records: {f:?}"
            );
            moved.push(f.moved.as_secs_f64());
        }
        let moved = median(moved);
        out.emit(
            (
                "failover: 2 instances behind HAProxy, the hall's holder killed (kill -9) during a burst: seconds until the hall is served again".to_string(),
                format!("{moved:.1} s"),
            ),
            json!({ "failover_s": moved }),
        );
    }

    Ok(())
}
