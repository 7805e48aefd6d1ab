//! The admin console at scale: a real server on 127.0.0.1 with check-ins
//! and requests of one hall written straight into its projection (spread
//! over some days), then each console page and export fetched over HTTP by
//! a signed-in central admin, several times. Used by `linli-admin-bench`
//! and by `linli-bench`.

use std::time::{Duration, Instant};

use crate::seed::{Seed, seed_server};
use linli_test_kit::TestServer;

/// One page's figures.
#[derive(Clone, Debug)]
pub struct PageFigure {
    /// What was fetched.
    pub label: &'static str,
    /// Median time to the last byte.
    pub median: Duration,
    /// Worst time to the last byte.
    pub worst: Duration,
    /// Size of the answer.
    pub bytes: usize,
}

/// Seed `checkins` and `requests` over `days` and time every page `runs`
/// times.
pub async fn measure(
    checkins: u32,
    requests: u32,
    days: u32,
    runs: usize,
) -> anyhow::Result<Vec<PageFigure>> {
    let server = TestServer::start().await?;
    let core = server.core()?;
    let seed = Seed {
        hall: "xianfeng".into(),
        kiosk: "bench-kiosk".into(),
        activity: "bench-activity".into(),
        checkins,
        requests,
        days,
        now_ms: linli_sync_engine::clock::now_ms(),
    };
    let t = Instant::now();
    seed_server(&core, None, &seed).await?;
    eprintln!("seeded in {:.1} s", t.elapsed().as_secs_f64());

    let (http, cookie) =
        linli_test_kit::console_session(&server, "admin", "bench password").await?;
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
    let mut figures = Vec::new();
    for (label, path) in pages {
        let mut times = Vec::with_capacity(runs);
        let mut bytes = 0;
        for _ in 0..runs.max(1) {
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
        figures.push(PageFigure {
            label,
            median: times[times.len() / 2],
            worst: times[times.len() - 1],
            bytes,
        });
    }
    Ok(figures)
}
