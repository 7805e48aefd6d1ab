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

/// Write the rows in one transaction. Check-ins are named (one of 5,000
/// residents, one companion every tenth); requests cycle through the
/// categories and statuses. Received times are the kiosk times.
pub fn seed_projection(c: &mut Connection, s: &Seed) -> rusqlite::Result<()> {
    // The residents' contacts sealed to the server's own key (read from the
    // database it keeps beside the rows), as kiosks seal them.
    let seal_key: Option<String> = c
        .query_row(
            "SELECT value FROM server_meta WHERE key = 'seal_public_key'",
            [],
            |r| r.get(0),
        )
        .ok();
    let sealing = seal_key.and_then(|k| linli_core::resident::SealingKey::from_hex(&k).ok());
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
    let tx = c.transaction()?;
    let span = i64::from(s.days.max(1)) * DAY_MS;
    let at = |i: u32, n: u32| s.now_ms - span + span * i64::from(i) / i64::from(n.max(1));
    let date = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()
    };
    {
        let mut ins = tx.prepare(
            "INSERT INTO checkins (record_id, doc_id, hall_id, kiosk_id, date, activity_id, phone_hash,
                                   sealed, headcount, companions, kiosk_at_ms, received_ms)
             VALUES (?1, 'seed', ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?9)",
        )?;
        for i in 0..s.checkins {
            let t = at(i, s.checkins);
            ins.execute(params![
                format!("seed-c-{}-{i}", s.kiosk),
                s.hall,
                s.kiosk,
                date(t).to_string(),
                s.activity,
                format!("resident-{}", i % 5000),
                contacts[(i % 5000) as usize],
                i64::from(i % 10 == 0),
                t,
            ])?;
        }
        let mut ins = tx.prepare(
            "INSERT INTO requests (record_id, doc_id, hall_id, kiosk_id, month, reference, category, text,
                                   phone_hash, sealed, callback_consent, status, reply,
                                   updated_ms, kiosk_at_ms, received_ms)
             VALUES (?1, 'seed', ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, 0, ?8, NULL, NULL, ?9, ?9)",
        )?;
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
        for i in 0..s.requests {
            let t = at(i, s.requests);
            ins.execute(params![
                format!("seed-r-{}-{i}", s.kiosk),
                s.hall,
                s.kiosk,
                date(t).format("%Y-%m").to_string(),
                format!("{i:06X}"),
                categories[i as usize % categories.len()],
                format!("楼道灯坏了, \"第 {i} 号\"\n请尽快修"),
                statuses[i as usize % statuses.len()],
                t,
            ])?;
        }
    }
    tx.commit()
}
