//! `linli-faults`: run seeded fault schedules (see `linli_tests::fault`)
//! and print what each injected and found, then a total. A failing
//! schedule prints its seed and exits non-zero; rerun that one with
//! `--seed N --schedules 1`.
//!
//! `cargo build --release -p linli-tests --bins && target/release/linli-faults --schedules 1000`
//!
//! Schedules redeem points at the halls' 爱心超市 too: the totals say how
//! many redemptions were `redeemed` and `overspent` (accounts spent past
//! what there was, at any check; always 0).
//!
//! `--instances 3` runs each schedule against three instances on one
//! PostgreSQL behind HAProxy (a PostgreSQL of its own unless
//! `--database-url` names one), killing and restarting instances.

use std::collections::BTreeMap;

use clap::Parser;
use linli_tests::fault::{self, Schedule};

/// Seeded fault schedules.
#[derive(Parser, Debug)]
#[command(name = "linli-faults", version, about)]
struct Args {
    /// Seed of the first schedule (the next ones count up).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Schedules to run.
    #[arg(long, default_value_t = 10)]
    schedules: u64,
    /// Steps per schedule.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Kiosks (two halls).
    #[arg(long, default_value_t = 4)]
    kiosks: usize,
    /// Server instances on one PostgreSQL behind HAProxy (1: one server
    /// on SQLite, unless --database-url).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// A PostgreSQL server whose user may create databases
    /// (postgres://USER@HOST:PORT/DB): each schedule gets a fresh database
    /// there. With --instances above 1 and no URL, a PostgreSQL of the
    /// runner's own is started in a temporary directory.
    #[arg(long, env = "LINLI_DATABASE_URL")]
    database_url: Option<String>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let node_bin = linli_tests::fault::node_bin()?;
    let mut faults: BTreeMap<&'static str, usize> = BTreeMap::new();
    let (mut acked, mut lost, mut duplicated, mut crossed, mut differ) = (0, 0, 0, 0, 0);
    let (mut redeemed, mut refused, mut overspent) = (0, 0, 0);
    let mut failed = Vec::new();
    // Several instances need PostgreSQL: the one given, or one of our own.
    let own_postgres = match (&args.database_url, args.instances > 1) {
        (None, true) => {
            Some(tokio::task::spawn_blocking(linli_test_kit::TestPostgres::start).await??)
        }
        _ => None,
    };
    let database_url = args
        .database_url
        .clone()
        .or_else(|| own_postgres.as_ref().map(|pg| pg.url("postgres")));
    for seed in args.seed..args.seed + args.schedules {
        let r = fault::run(&Schedule {
            instances: args.instances,
            database_url: database_url.clone(),
            ..Schedule::new(seed, args.kiosks, args.steps, node_bin.clone())
        })
        .await?;
        println!(
            "seed {seed}: {} faults, {} acknowledged, {} projected, lost {}, duplicated {}, crossed {}, heads differ {}, redeemed {}, refused {}, overspent {} ({:.1} s)",
            r.faults.values().sum::<usize>(),
            r.acknowledged,
            r.projected,
            r.lost,
            r.duplicated,
            r.crossed,
            r.heads_differ,
            r.redeemed,
            r.refused,
            r.overspent,
            r.seconds
        );
        for (k, n) in &r.faults {
            *faults.entry(k).or_default() += n;
        }
        acked += r.acknowledged;
        lost += r.lost;
        duplicated += r.duplicated;
        crossed += r.crossed;
        differ += r.heads_differ;
        redeemed += r.redeemed;
        refused += r.refused;
        overspent += r.overspent;
        if !r.ok() {
            println!("FAILED: seed {seed}; replay with --seed {seed} --schedules 1");
            failed.push(seed);
        }
    }
    println!(
        "\n| schedules | records acknowledged | lost | duplicated | crossed halls | heads differ | redeemed | refused | overspent |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {} | {acked} | {lost} | {duplicated} | {crossed} | {differ} | {redeemed} | {refused} | {overspent} |",
        args.schedules
    );
    println!("redeemed {redeemed}, overspent {overspent}");
    println!("\n| fault | injected |\n| --- | --- |");
    for (k, n) in &faults {
        println!("| {k} | {n} |");
    }
    anyhow::ensure!(failed.is_empty(), "failing seeds: {failed:?}");
    Ok(())
}
