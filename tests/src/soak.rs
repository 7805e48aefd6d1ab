//! The soak run behind `linli-sim soak`: a server process on loopback and
//! K in-process kiosks (`KioskNode`s, each on its own store) in two halls,
//! each recording a check-in every `interval` and dropping its connection
//! now and then, for a set time. Every `sample` it prints the server's
//! resident memory (from `/proc`), records acknowledged and projected,
//! errors and reconnects; at the end it checks that every acknowledged
//! record reached the server, once. Memory must stay flat: the report
//! gives the first, last and highest figure and the slope over the second
//! half.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use linli_core::{
    KioskNode, KioskNodeOptions,
    node::{CheckInOutcome, NewCheckIn},
};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::fault::{self, ServerProc};

/// Settings.
#[derive(Clone, Debug)]
pub struct Soak {
    /// Kiosks.
    pub kiosks: usize,
    /// How long.
    pub duration: Duration,
    /// Each kiosk records one check-in this often.
    pub interval: Duration,
    /// A kiosk drops its connection with this chance per check-in.
    pub disconnect_chance: f64,
    /// Print a line this often.
    pub sample: Duration,
    /// The `linli-node` executable.
    pub node_bin: PathBuf,
}

/// One sample.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Seconds since the start.
    pub at_s: f64,
    /// Server resident memory, KiB.
    pub rss_kib: u64,
    /// Acknowledged so far.
    pub acknowledged: u64,
    /// Projected on the server so far.
    pub projected: u64,
    /// Recording errors so far.
    pub errors: u64,
    /// Reconnects so far.
    pub reconnects: u64,
}

/// The whole run.
#[derive(Debug, Default)]
pub struct SoakReport {
    /// Every sample.
    pub samples: Vec<Sample>,
    /// Acknowledged records missing on the server at the end.
    pub lost: u64,
    /// Projected rows beyond the acknowledged ones.
    pub extra: u64,
}

#[derive(Default)]
struct Counters {
    acknowledged: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
}

/// Run the soak; `print` gets each sample as it is taken.
pub async fn run(s: &Soak, mut print: impl FnMut(&Sample)) -> anyhow::Result<SoakReport> {
    let root = tempfile::tempdir()?;
    let mut server = ServerProc::new(root.path().join("server"))?;
    let provisioned = fault::provision(&server.dir, s.kiosks.max(2)).await?;
    server.start(&s.node_bin).await?;
    let url: url::Url = format!("http://{}/", server.addr).parse()?;
    let counters = Arc::new(Counters::default());
    let acked_ids = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let deadline = Instant::now() + s.duration;
    let mut tasks = Vec::new();
    for (i, (_, _, token)) in provisioned.into_iter().enumerate() {
        let dir = root.path().join(format!("kiosk-{i}"));
        let mut options = KioskNodeOptions::new(&dir);
        options.backoff.max_delay = Duration::from_secs(2);
        let node = KioskNode::pair(options, &url, &token).await?;
        node.go_online()?;
        let (counters, acked_ids, s) = (counters.clone(), acked_ids.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(i as u64);
            // Spread the kiosks over the interval.
            let offset = s.interval.mul_f64(rng.random::<f64>());
            tokio::time::sleep(offset).await;
            while Instant::now() < deadline {
                let outcome = node
                    .record_checkin(NewCheckIn {
                        activity_id: "soak".into(),
                        resident: None,
                        headcount: 1,
                        companions: 0,
                    })
                    .await;
                match outcome {
                    Ok(CheckInOutcome::Recorded(id)) => {
                        counters.acknowledged.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut a) = acked_ids.lock() {
                            a.push(id.to_string());
                        }
                    }
                    _ => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if rng.random::<f64>() < s.disconnect_chance {
                    node.go_offline();
                    tokio::time::sleep(Duration::from_millis(rng.random_range(100..2000))).await;
                    if node.go_online().is_err() {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    counters.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(s.interval).await;
            }
            node
        }));
    }
    let started = Instant::now();
    let mut report = SoakReport::default();
    let sample = |server: &ServerProc, counters: &Counters| -> anyhow::Result<Sample> {
        let (rows, _) = fault::server_rows(&server.dir)?;
        Ok(Sample {
            at_s: started.elapsed().as_secs_f64(),
            rss_kib: server
                .pid()
                .and_then(|pid| crate::versus::proc_status_kib(pid, "VmRSS:").ok())
                .unwrap_or(0),
            acknowledged: counters.acknowledged.load(Ordering::Relaxed),
            projected: rows.len() as u64,
            errors: counters.errors.load(Ordering::Relaxed),
            reconnects: counters.reconnects.load(Ordering::Relaxed),
        })
    };
    while Instant::now() < deadline {
        tokio::time::sleep(
            s.sample
                .min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
        let x = sample(&server, &counters)?;
        print(&x);
        report.samples.push(x);
    }
    let mut nodes = Vec::new();
    for t in tasks {
        nodes.push(t.await?);
    }
    for n in &nodes {
        let _ = n.go_online();
    }
    // Let the last records arrive.
    let ids: Vec<String> = acked_ids.lock().map(|a| a.clone()).unwrap_or_default();
    let settle = Instant::now() + Duration::from_secs(120);
    loop {
        let (rows, _) = fault::server_rows(&server.dir)?;
        let lost = ids.iter().filter(|id| !rows.contains_key(*id)).count() as u64;
        if lost == 0 || Instant::now() > settle {
            report.lost = lost;
            report.extra = (rows.len() as u64).saturating_sub(ids.len() as u64);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let x = sample(&server, &counters)?;
    print(&x);
    report.samples.push(x);
    for n in nodes {
        n.shutdown().await;
    }
    server.kill().await;
    Ok(report)
}
