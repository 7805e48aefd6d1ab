//! Projected rows written straight into a server's database, for the
//! console at scale (tests and benchmarks): what years of kiosk syncing
//! would have left there, without the years.

use rusqlite::{Connection, params};

/// What to write.
#[derive(Clone, Debug)]
pub struct Seed {
    /// Hall of every row.
    pub hall: String,
    /// Kiosk of every row.
    pub kiosk: String,
    /// Activity of the check-ins.
    pub activity: String,
    /// Check-ins to write.
    pub checkins: u32,
    /// Requests to write.
    pub requests: u32,
    /// Rows are spread evenly over this many days ending at `now_ms`.
    pub days: u32,
    /// The server's "now", ms.
    pub now_ms: i64,
}

const DAY_MS: i64 = 86_400_000;

/// One seeded check-in.
struct CheckinRow {
    record_id: String,
    date: String,
    phone_hash: String,
    sealed: Option<String>,
    companions: i64,
    at_ms: i64,
}

/// One seeded request.
struct RequestRow {
    record_id: String,
    month: String,
    reference: String,
    category: &'static str,
    text: String,
    status: &'static str,
    at_ms: i64,
}

/// The rows of `s`. Check-ins are named (one of 5,000 residents, one
/// companion every tenth), their contacts sealed to `seal_key` (the
/// server's, as kiosks seal them); requests cycle through the categories
/// and statuses. Received times are the kiosk times.
fn rows(s: &Seed, seal_key: Option<&str>) -> (Vec<CheckinRow>, Vec<RequestRow>) {
    let sealing = seal_key.and_then(|k| linli_core::resident::SealingKey::from_hex(k).ok());
    let contacts: Vec<Option<String>> = (0..5000)
        .map(|i| {
            sealing.as_ref().and_then(|k| {
                k.seal(&linli_core::resident::Contact {
                    phone: format!("1380000{i:04}"),
                    name: Some("王阿姨".into()),
                })
                .ok()
            })
        })
        .collect();
    let span = i64::from(s.days.max(1)) * DAY_MS;
    let at = |i: u32, n: u32| s.now_ms - span + span * i64::from(i) / i64::from(n.max(1));
    let date = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()
    };
    let checkins = (0..s.checkins)
        .map(|i| {
            let t = at(i, s.checkins);
            CheckinRow {
                record_id: format!("seed-c-{}-{i}", s.kiosk),
                date: date(t).to_string(),
                phone_hash: format!("resident-{}", i % 5000),
                sealed: contacts[(i % 5000) as usize].clone(),
                companions: i64::from(i % 10 == 0),
                at_ms: t,
            }
        })
        .collect();
    let categories = [
        "sanitation",
        "repair",
        "dispute",
        "safety",
        "service_suggestion",
        "idea",
        "other",
    ];
    let statuses = ["received", "in_progress", "resolved"];
    let requests = (0..s.requests)
        .map(|i| {
            let t = at(i, s.requests);
            RequestRow {
                record_id: format!("seed-r-{}-{i}", s.kiosk),
                month: date(t).format("%Y-%m").to_string(),
                reference: format!("{i:06X}"),
                category: categories[i as usize % categories.len()],
                text: format!("楼道灯坏了, \"第 {i} 号\"\n请尽快修"),
                status: statuses[i as usize % statuses.len()],
                at_ms: t,
            }
        })
        .collect();
    (checkins, requests)
}

/// Write the rows into a SQLite server database, in one transaction.
pub fn seed_projection(c: &mut Connection, s: &Seed) -> rusqlite::Result<()> {
    let seal_key: Option<String> = c
        .query_row(
            "SELECT value FROM server_meta WHERE key = 'seal_public_key'",
            [],
            |r| r.get(0),
        )
        .ok();
    let (checkins, requests) = rows(s, seal_key.as_deref());
    let tx = c.transaction()?;
    {
        let mut ins = tx.prepare(
            "INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, phone_hash,
                                   sealed, headcount, companions, kiosk_at_ms, received_ms)
             VALUES (?1, 'seed', ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?9)",
        )?;
        for r in &checkins {
            ins.execute(params![
                r.record_id,
                s.hall,
                s.kiosk,
                r.date,
                s.activity,
                r.phone_hash,
                r.sealed,
                r.companions,
                r.at_ms,
            ])?;
        }
        let mut ins = tx.prepare(
            "INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text,
                                   phone_hash, sealed, callback_consent, status, reply,
                                   updated_ms, kiosk_at_ms, received_ms)
             VALUES (?1, 'seed', ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, 0, ?8, NULL, NULL, ?9, ?9)",
        )?;
        for r in &requests {
            ins.execute(params![
                r.record_id,
                s.hall,
                s.kiosk,
                r.month,
                r.reference,
                r.category,
                r.text,
                r.status,
                r.at_ms,
            ])?;
        }
    }
    tx.commit()
}

/// Write the rows into the PostgreSQL server database at `url`, in one
/// transaction (each table in one statement, its columns as arrays).
pub async fn seed_projection_pg(url: &str, s: &Seed) -> anyhow::Result<()> {
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    let seal_key: Option<String> = client
        .query_opt(
            "SELECT value FROM server_meta WHERE key = 'seal_public_key'",
            &[],
        )
        .await?
        .map(|r| r.get(0));
    let (checkins, requests) = rows(s, seal_key.as_deref());
    let column = |f: &dyn Fn(&CheckinRow) -> String| checkins.iter().map(f).collect::<Vec<_>>();
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, phone_hash,
                               sealed, headcount, companions, kiosk_at_ms, received_ms)
         SELECT r, 'seed', $1, $2, d, $3, p, se, 1, c, t, t
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])
             AS x(r, d, p, se, c, t)",
        &[
            &s.hall,
            &s.kiosk,
            &s.activity,
            &column(&|r| r.record_id.clone()),
            &column(&|r| r.date.clone()),
            &column(&|r| r.phone_hash.clone()),
            &checkins
                .iter()
                .map(|r| r.sealed.clone())
                .collect::<Vec<_>>(),
            &checkins.iter().map(|r| r.companions).collect::<Vec<_>>(),
            &checkins.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        ],
    )
    .await?;
    let column = |f: &dyn Fn(&RequestRow) -> String| requests.iter().map(f).collect::<Vec<_>>();
    tx.execute(
        "INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text,
                               phone_hash, sealed, callback_consent, status, reply,
                               updated_ms, kiosk_at_ms, received_ms)
         SELECT r, 'seed', $1, $2, m, f, c, x, NULL, NULL, FALSE, st, NULL, NULL, t, t
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::bigint[]) AS y(r, m, f, c, x, st, t)",
        &[
            &s.hall,
            &s.kiosk,
            &column(&|r| r.record_id.clone()),
            &column(&|r| r.month.clone()),
            &column(&|r| r.reference.clone()),
            &column(&|r| r.category.to_string()),
            &column(&|r| r.text.clone()),
            &column(&|r| r.status.to_string()),
            &requests.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        ],
    )
    .await?;
    tx.commit().await?;
    drop(client);
    let _ = connection.await;
    Ok(())
}

/// Write the rows into whichever store the server at `core` runs on
/// (PostgreSQL when `database_url` is given).
pub async fn seed_server(
    core: &linli_sync_engine::ServerCore,
    database_url: Option<&str>,
    s: &Seed,
) -> anyhow::Result<()> {
    match database_url {
        Some(url) => seed_projection_pg(url, s).await,
        None => {
            let s = s.clone();
            Ok(core
                .sqlite("seeding")?
                .run(move |c| {
                    seed_projection(c, &s).map_err(|e| linli_sync_engine::Error::db("seeding", e))
                })
                .await?)
        }
    }
}
