//! `GET /metrics`: the server's figures in the Prometheus (OpenMetrics)
//! text format, for the street office's monitoring. It needs an admin API
//! token (`Authorization: Bearer la_…`, any role), like the rest of the
//! JSON API: a Prometheus scrape job sets it with `authorization:
//! credentials`. Hall ids appear as labels; nothing personal does.
//!
//! Request counts and latencies are observed as requests pass
//! ([`Metrics::observe`], from the access log's middleware); everything
//! else is read from the engine when scraped (connections, loaded halls,
//! the projector's and the store's counts, quarantined records).

use std::sync::{Mutex, atomic::AtomicU64};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// A label: a hall.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HallLabel {
    hall: String,
}

/// A label: an HTTP status refused with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// Labels of the build.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabel {
    version: String,
    protocol: String,
}

/// The server's metrics (see the module docs).
pub struct Metrics {
    registry: Registry,
    refusals: Family<StatusLabel, Counter>,
    http_seconds: Histogram,
    sync_seconds: Histogram,
    kiosks: Family<HallLabel, Gauge>,
    connections: Gauge,
    loaded_halls: Gauge,
    loaded_documents: Gauge,
    quarantined: Family<HallLabel, Gauge>,
    document_changes: Counter,
    records_projected: Counter,
    records_quarantined: Counter,
    projection_pending: Gauge,
    projection_last_batch: Gauge<f64, AtomicU64>,
    storage_writes: Counter,
    storage_failures: Counter,
    storage_failing: Gauge,
    /// What the engine's running counts were at the last scrape, so each
    /// scrape adds only what is new to the counters.
    seen: Mutex<linli_sync_engine::counters::Counted>,
    seen_store: Mutex<(u64, u64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("linli");
        let build = Family::<BuildLabel, Gauge>::default();
        build
            .get_or_create(&BuildLabel {
                version: env!("CARGO_PKG_VERSION").to_string(),
                protocol: linli_core::protocol::PROTOCOL_VERSION.to_string(),
            })
            .set(1);
        registry.register(
            "build_info",
            "This server's version and sync protocol",
            build,
        );
        let m = Metrics {
            refusals: Family::default(),
            // 1 ms to about 16 s.
            http_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            // 50 µs to about 1.6 s.
            sync_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            kiosks: Family::default(),
            connections: Gauge::default(),
            loaded_halls: Gauge::default(),
            loaded_documents: Gauge::default(),
            quarantined: Family::default(),
            document_changes: Counter::default(),
            records_projected: Counter::default(),
            records_quarantined: Counter::default(),
            projection_pending: Gauge::default(),
            projection_last_batch: Gauge::default(),
            storage_writes: Counter::default(),
            storage_failures: Counter::default(),
            storage_failing: Gauge::default(),
            seen: Mutex::default(),
            seen_store: Mutex::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_refusals",
            "Requests refused, by status: 401 (no or a wrong token), 403 (not allowed), 413 (too large), 429 (too many)",
            m.refusals.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (a sync WebSocket: until it is upgraded)",
            m.http_seconds.clone(),
        );
        registry.register(
            "sync_message_intake_seconds",
            "Time from a kiosk's sync message arriving to its being handed to the hall's repository (screened, its new documents claimed)",
            m.sync_seconds.clone(),
        );
        registry.register(
            "connected_kiosks",
            "Kiosks with a live sync connection to this instance, by hall",
            m.kiosks.clone(),
        );
        registry.register(
            "sync_connections",
            "Live sync connections (kiosks and other instances' relays)",
            m.connections.clone(),
        );
        registry.register(
            "loaded_halls",
            "Halls whose documents this instance holds in memory",
            m.loaded_halls.clone(),
        );
        registry.register(
            "loaded_documents",
            "Documents the halls this instance stores hold in memory (read from the store or written to it since the hall was loaded)",
            m.loaded_documents.clone(),
        );
        registry.register(
            "quarantined_records",
            "Records held back from the projection as not fitting their schema, by hall",
            m.quarantined.clone(),
        );
        registry.register(
            "document_changes",
            "Document change notices that reached the projector",
            m.document_changes.clone(),
        );
        registry.register(
            "records_projected",
            "Records written into the projection the console reads",
            m.records_projected.clone(),
        );
        registry.register(
            "records_quarantined",
            "Records quarantined as they arrived",
            m.records_quarantined.clone(),
        );
        registry.register(
            "projection_pending_documents",
            "Documents waiting for the projector (projection lag)",
            m.projection_pending.clone(),
        );
        registry.register(
            "projection_last_batch_seconds",
            "How long the projector's last batch took from its first change's arrival to being written (projection lag)",
            m.projection_last_batch.clone(),
        );
        registry.register(
            "storage_writes",
            "Document writes the store committed",
            m.storage_writes.clone(),
        );
        registry.register(
            "storage_write_failures",
            "Document store operations that failed (each is retried until kept)",
            m.storage_failures.clone(),
        );
        registry.register(
            "storage_failing",
            "1 while the document store's writes are failing",
            m.storage_failing.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// A request answered with `status` in `seconds`.
    pub fn observe(&self, status: u16, seconds: f64) {
        self.http_seconds.observe(seconds);
        if matches!(status, 401 | 403 | 413 | 429) {
            self.refusals
                .get_or_create(&StatusLabel {
                    status: status.to_string(),
                })
                .inc();
        }
    }

    /// A kiosk's sync message taken in, in `seconds`.
    pub fn observe_sync(&self, seconds: f64) {
        self.sync_seconds.observe(seconds);
    }

    /// The metrics as the text exposition, read afresh from `core`.
    pub async fn render(
        &self,
        core: &linli_sync_engine::ServerCore,
    ) -> linli_sync_engine::Result<String> {
        self.kiosks.clear();
        for (hall, n) in core.registry.kiosks_by_hall() {
            self.kiosks
                .get_or_create(&HallLabel { hall })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.connections
            .set(i64::try_from(core.registry.connection_count()).unwrap_or(i64::MAX));
        self.loaded_halls
            .set(i64::try_from(core.repos.running()).unwrap_or(i64::MAX));
        self.loaded_documents
            .set(i64::try_from(core.repos.loaded_documents()).unwrap_or(i64::MAX));
        self.quarantined.clear();
        for hall in core.tables.halls().await? {
            let n = core.projection.quarantine(&hall.id).await?.len();
            self.quarantined
                .get_or_create(&HallLabel { hall: hall.id })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let now = core.counters.read();
        if let Ok(mut seen) = self.seen.lock() {
            self.document_changes
                .inc_by(now.document_changes.saturating_sub(seen.document_changes));
            self.records_projected
                .inc_by(now.records_projected.saturating_sub(seen.records_projected));
            self.records_quarantined.inc_by(
                now.records_quarantined
                    .saturating_sub(seen.records_quarantined),
            );
            *seen = now;
        }
        self.projection_pending
            .set(i64::try_from(now.projection_pending).unwrap_or(i64::MAX));
        self.projection_last_batch
            .set(now.last_batch_ms as f64 / 1000.0);
        let health = core.storage.health();
        let (writes, _) = core.storage.write_counts();
        if let Ok(mut seen) = self.seen_store.lock() {
            self.storage_writes.inc_by(writes.saturating_sub(seen.0));
            self.storage_failures
                .inc_by(health.failed_attempts.saturating_sub(seen.1));
            *seen = (writes, health.failed_attempts);
        }
        self.storage_failing
            .set(i64::from(health.failing.is_some()));
        let mut out = String::new();
        encode(&mut out, &self.registry).map_err(|e| {
            linli_sync_engine::Error::BadRequest(format!("encoding the metrics: {e}"))
        })?;
        Ok(out)
    }
}
