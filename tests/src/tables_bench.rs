//! The server's own tables on SQLite and on PostgreSQL side by side
//! (`linli_sync_engine::tables::ServerTables`): the calls a serving server
//! makes — provisioning kiosks, checking a kiosk's token at every
//! connection, claiming the documents kiosks deliver first — on a fresh
//! store of each kind with full durability (SQLite `synchronous=FULL`,
//! PostgreSQL `fsync=on`; PostgreSQL on loopback, started for the run).

use std::time::{Duration, Instant};

use linli_core::sqlite::{DbOptions, Durability};
use linli_store_postgres::PgStore;
use linli_sync_engine::{
    db::{Db, Hall, NewDoc},
    tables::ServerTables,
};
use linli_test_kit::TestPostgres;

/// What one store did.
pub struct TablesFigures {
    /// `SQLite` or `PostgreSQL`.
    pub store: &'static str,
    /// Kiosks provisioned per second, one after another.
    pub provisions_per_s: f64,
    /// Token checks: p50 and p99.
    pub lookup: (Duration, Duration),
    /// Documents claimed per second, in batches of ten.
    pub claims_per_s: f64,
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len().max(1) - 1) as f64 * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

async fn run(store: &'static str, t: &dyn ServerTables, n: usize) -> anyhow::Result<TablesFigures> {
    t.insert_hall(
        &Hall {
            id: "xianfeng".into(),
            name: "先锋社区党群服务中心".into(),
            tz: "Asia/Shanghai".into(),
            calendar_doc: "cal".into(),
            directory_doc: "dir".into(),
        },
        0,
    )
    .await?;
    let started = Instant::now();
    let mut kiosks = Vec::with_capacity(n);
    for i in 0..n {
        kiosks.push(
            t.insert_kiosk("xianfeng", "终端", &format!("token-{i}"), 1)
                .await?,
        );
    }
    let provisions_per_s = n as f64 / started.elapsed().as_secs_f64();
    let mut lookups = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        let found = t
            .kiosk_by_token_hash(&format!("token-{}", (i * 7919) % n))
            .await?;
        lookups.push(t0.elapsed());
        anyhow::ensure!(found.is_some(), "token {i} found");
    }
    let started = Instant::now();
    let mut claimed = 0;
    for batch in 0..n.div_ceil(10) {
        let docs: Vec<NewDoc> = (0..10)
            .map(|j| {
                let k = &kiosks[(batch * 10 + j) % n];
                NewDoc {
                    doc_id: format!("doc-{batch}-{j}"),
                    hall_id: k.hall_id.clone(),
                    kiosk_id: k.id.clone(),
                }
            })
            .collect();
        for c in t.claim_docs(&docs, 24, 2).await {
            c?;
            claimed += 1;
        }
    }
    let claims_per_s = claimed as f64 / started.elapsed().as_secs_f64();
    Ok(TablesFigures {
        store,
        provisions_per_s,
        lookup: (pct(&mut lookups, 0.5), pct(&mut lookups, 0.99)),
        claims_per_s,
    })
}

/// `n` kiosks provisioned, `n` token checks and `n` documents claimed on
/// each store.
pub async fn measure(n: usize) -> anyhow::Result<Vec<TablesFigures>> {
    let dir = tempfile::tempdir()?;
    let db = Db::open(
        &dir.path().join("server.sqlite3"),
        DbOptions {
            durability: Durability::Full,
            max_page_count: None,
        },
        &[],
    )?;
    let sqlite = run("SQLite", &db, n).await?;
    let pg = TestPostgres::start_durable()?;
    let store = PgStore::open(&pg.create_database("linli").await?).await?;
    let postgres = run("PostgreSQL", &store.tables(), n).await?;
    Ok(vec![sqlite, postgres])
}
