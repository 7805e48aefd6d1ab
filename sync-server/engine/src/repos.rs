//! One samod repo per hall, loaded while the hall is in use and stopped
//! when it has been idle a while.
//!
//! Why not one repo for the whole server: samod 0.16 re-examines every
//! (connection, document) pair of a repo whenever its hub handles an
//! event, so with one repo the cost of each message grew with kiosks ×
//! documents (66 % of server CPU with 1,000 kiosks, under perf), and a
//! repo keeps every document it has touched in memory until it stops.
//! Kiosks only ever share documents within their hall (DESIGN.md
//! decision 4), so a repo per hall loses nothing: each hall's repo holds
//! its own few kiosks and documents, and a hall whose kiosks have all
//! gone and that nothing else uses for [`UNLOAD_IDLE_AFTER`] is stopped,
//! which releases every document it held. Idle memory therefore does
//! not depend on how many documents exist.
//!
//! All repos share the server's one SQLite store and peer id. A repo
//! reads and writes only documents of its own hall (or not yet claimed
//! by any): [`HallStorage`] refuses the rest, so two repos never hold
//! the same document.
//!
//! Whoever uses a hall's repo holds a [`Lease`] (a sync connection for
//! its lifetime, a console edit while it writes); a repo is only stopped
//! when no lease is out.

use std::{
    collections::HashMap,
    ops::Deref,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use automerge::Automerge;
use samod::{
    AcceptorHandle, DocHandle, DocumentId, PeerId, Repo, RepoEvent, RepoObserver, ShareConfig,
    storage::{Storage, StorageKey},
};
use tokio::sync::mpsc;

use crate::{
    Error, Result, clock::now_ms, db::DocOwner, documents::DocumentStore, registry::Registry,
    tables::ServerTables,
};

/// A hall's repo with no lease out for this long is stopped.
pub const UNLOAD_IDLE_AFTER: Duration = Duration::from_secs(180);

/// What every hall's repo is built from.
struct Shared {
    tables: Arc<dyn ServerTables>,
    storage: Arc<dyn DocumentStore>,
    registry: Arc<Registry>,
    peer_id: PeerId,
    feed: Option<mpsc::UnboundedSender<DocumentId>>,
}

/// A hall's slot: its running repo, if any. The async lock orders
/// starting and stopping, so a hall never has two repos at once.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<HallRepo>>>>;

/// The hall repos of one server.
pub struct HallRepos {
    shared: Arc<Shared>,
    slots: Mutex<HashMap<String, Slot>>,
}

/// One hall's running repo.
pub struct HallRepo {
    /// The hall.
    pub hall_id: String,
    /// Its samod repo.
    pub repo: Repo,
    /// Where the hall's kiosks' sync sockets go.
    pub acceptor: AcceptorHandle,
    /// When the last lease was returned (or taken), ms.
    last_used: AtomicI64,
}

/// A hall's repo in use: it is not stopped while this lives.
pub struct Lease(Arc<HallRepo>);

impl Deref for Lease {
    type Target = HallRepo;
    fn deref(&self) -> &HallRepo {
        &self.0
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.last_used.store(now_ms(), Ordering::Relaxed);
    }
}

/// A document of a hall, with the lease that keeps its repo running.
pub struct HallDoc {
    handle: DocHandle,
    _lease: Lease,
}

impl Deref for HallDoc {
    type Target = DocHandle;
    fn deref(&self) -> &DocHandle {
        &self.handle
    }
}

/// Sends every document that received sync data to the projector.
struct ProjectionFeed(mpsc::UnboundedSender<DocumentId>);

impl RepoObserver for ProjectionFeed {
    fn observe(&self, event: &RepoEvent) {
        if let RepoEvent::SyncMessageReceived { document_id, .. } = event {
            let _ = self.0.send(document_id.clone());
        }
    }
}

impl HallRepos {
    /// Repos over `storage`; with `feed`, every document that receives
    /// sync data is sent there (to the projector).
    pub fn new(
        tables: Arc<dyn ServerTables>,
        storage: Arc<dyn DocumentStore>,
        registry: Arc<Registry>,
        peer_id: PeerId,
        feed: Option<mpsc::UnboundedSender<DocumentId>>,
    ) -> HallRepos {
        HallRepos {
            shared: Arc::new(Shared {
                tables,
                storage,
                registry,
                peer_id,
                feed,
            }),
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, hall_id: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(hall_id.to_string()).or_default().clone()
    }

    /// The hall's repo, started if it is not running.
    pub async fn hall(&self, hall_id: &str) -> Result<Lease> {
        let slot = self.slot(hall_id);
        let mut running = slot.lock().await;
        if let Some(repo) = running.as_ref() {
            repo.last_used.store(now_ms(), Ordering::Relaxed);
            return Ok(Lease(repo.clone()));
        }
        let repo = Arc::new(start(&self.shared, hall_id).await?);
        tracing::debug!(hall = %hall_id, "hall repo started");
        *running = Some(repo.clone());
        Ok(Lease(repo))
    }

    /// A document of the given hall, if its repo has or can find it.
    pub async fn find_in(&self, hall_id: &str, doc: DocumentId) -> Result<Option<HallDoc>> {
        let lease = self.hall(hall_id).await?;
        Ok(lease.repo.find(doc).await?.map(|handle| HallDoc {
            handle,
            _lease: lease,
        }))
    }

    /// A document, in the repo of the hall that owns it; `None` when no
    /// hall has claimed it.
    pub async fn find(&self, doc: DocumentId) -> Result<Option<HallDoc>> {
        let Some(owner) = self.shared.tables.doc_owner(&doc.to_string()).await? else {
            return Ok(None);
        };
        self.find_in(&owner.hall_id, doc).await
    }

    /// Create a document in a hall's repo (claim it for the hall too).
    pub async fn create(&self, hall_id: &str, content: Automerge) -> Result<HallDoc> {
        let lease = self.hall(hall_id).await?;
        let handle = lease.repo.create(content).await?;
        Ok(HallDoc {
            handle,
            _lease: lease,
        })
    }

    /// Every hall's slot, as of now (the map is not held while slots
    /// are looked at).
    fn all_slots(&self) -> Vec<(String, Slot)> {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(h, s)| (h.clone(), s.clone()))
            .collect()
    }

    /// How many halls have a running repo.
    pub fn running(&self) -> usize {
        self.all_slots()
            .iter()
            .filter(|(_, s)| s.try_lock().map(|r| r.is_some()).unwrap_or(true))
            .count()
    }

    /// Stop the repos with no lease out for `idle_for`; returns how many
    /// were stopped. Their documents leave memory with them.
    pub async fn unload_idle(&self, idle_for: Duration) -> usize {
        let idle_ms = i64::try_from(idle_for.as_millis()).unwrap_or(i64::MAX);
        let mut stopped = 0;
        for (hall, slot) in self.all_slots() {
            let Ok(mut running) = slot.try_lock() else {
                continue;
            };
            let idle = running.as_ref().is_some_and(|r| {
                Arc::strong_count(r) == 1
                    && now_ms() - r.last_used.load(Ordering::Relaxed) >= idle_ms
            });
            if !idle {
                continue;
            }
            if let Some(repo) = running.take() {
                stop_repo(&repo.repo).await;
                tracing::debug!(%hall, "idle hall repo stopped");
                stopped += 1;
            }
        }
        stopped
    }

    /// Stop the hall's repo if it runs, ending its kiosks' sync connections
    /// (they reconnect by themselves), then run `work` while no repo of the
    /// hall can start. A new repo starts on the hall's next use, so no
    /// document the old one held stays in memory or is saved again.
    pub async fn with_hall_stopped<T, F>(
        &self,
        hall_id: &str,
        work: impl FnOnce() -> F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let slot = self.slot(hall_id);
        let mut running = slot.lock().await;
        if let Some(repo) = running.take() {
            for kiosk in self.shared.tables.kiosks().await? {
                if kiosk.hall_id == hall_id {
                    self.shared.registry.kill_kiosk(&kiosk.id);
                }
            }
            stop_repo(&repo.repo).await;
            tracing::info!(hall = %hall_id, "hall repo stopped for a rebuild");
        }
        work().await
    }

    /// Stop every repo (flushing what each holds).
    pub async fn stop(&self) {
        let stops = self.all_slots().into_iter().map(|(_, slot)| async move {
            if let Some(repo) = slot.lock().await.take() {
                stop_repo(&repo.repo).await;
            }
        });
        futures::future::join_all(stops).await;
    }
}

async fn stop_repo(repo: &Repo) {
    if tokio::time::timeout(Duration::from_secs(10), repo.stop())
        .await
        .is_err()
    {
        tracing::error!("a hall's document repository did not stop within 10 s");
    }
}

async fn start(shared: &Arc<Shared>, hall_id: &str) -> Result<HallRepo> {
    let owners = Arc::new(Owners {
        tables: shared.tables.clone(),
        known: Mutex::new(HashMap::new()),
    });
    let storage = HallStorage {
        inner: shared.storage.clone(),
        hall_id: Arc::from(hall_id),
        owners: owners.clone(),
    };
    let policy = SharePolicy {
        owners: owners.clone(),
        registry: shared.registry.clone(),
    };
    let mut builder = Repo::build_tokio()
        .with_storage(storage)
        .with_peer_id(shared.peer_id.clone())
        .with_share_policy(move |doc: DocumentId, peer: PeerId| {
            let policy = policy.clone();
            futures::stream::once(async move { policy.decide(doc, peer).await })
        });
    if let Some(tx) = &shared.feed {
        builder = builder.with_observer(ProjectionFeed(tx.clone()));
    }
    let repo = builder.load().await;
    let acceptor = repo.make_acceptor(
        url::Url::parse("ws://linli-server/sync").map_err(|e| Error::BadRequest(e.to_string()))?,
    )?;
    Ok(HallRepo {
        hall_id: hall_id.to_string(),
        repo,
        acceptor,
        last_used: AtomicI64::new(now_ms()),
    })
}

/// Who owns each document this hall's repo has asked about. A claim never
/// changes once made, so an owner is looked up once per repo; documents
/// nobody owns yet are asked again.
struct Owners {
    tables: Arc<dyn ServerTables>,
    known: Mutex<HashMap<DocumentId, DocOwner>>,
}

impl Owners {
    async fn get(&self, doc: &DocumentId) -> Result<Option<DocOwner>> {
        if let Some(o) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(doc)
        {
            return Ok(Some(o.clone()));
        }
        let owner = self.tables.doc_owner(&doc.to_string()).await?;
        if let Some(o) = &owner {
            self.known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(doc.clone(), o.clone());
        }
        Ok(owner)
    }
}

/// The server's store as one hall's repo sees it: documents another hall
/// owns are neither read nor written.
#[derive(Clone)]
struct HallStorage {
    inner: Arc<dyn DocumentStore>,
    hall_id: Arc<str>,
    owners: Arc<Owners>,
}

impl HallStorage {
    /// Whether `key` may be read or written by this hall's repo. Keys that
    /// are not a document's (the storage id) are shared. When the owner
    /// cannot be read, the key is allowed: the share policy still decides
    /// who sees the document.
    async fn allows(&self, key: &StorageKey) -> bool {
        let Some(doc) = key
            .clone()
            .into_iter()
            .next()
            .and_then(|first| first.parse::<DocumentId>().ok())
        else {
            return true;
        };
        match self.owners.get(&doc).await {
            Ok(Some(owner)) if owner.retired => {
                tracing::debug!(%doc, "a retired document: neither loaded nor stored again");
                false
            }
            Ok(Some(owner)) if owner.hall_id.as_str() != &*self.hall_id => {
                tracing::debug!(%doc, hall = %self.hall_id, "another hall's document: not loaded in this hall's repo");
                false
            }
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(%doc, error = %e, "document owner unknown: storage access allowed");
                true
            }
        }
    }
}

impl Storage for HallStorage {
    fn load(&self, key: StorageKey) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let this = self.clone();
        async move {
            if this.allows(&key).await {
                this.inner.load(key).await
            } else {
                None
            }
        }
    }

    fn load_range(
        &self,
        prefix: StorageKey,
    ) -> impl Future<Output = HashMap<StorageKey, Vec<u8>>> + Send {
        let this = self.clone();
        async move {
            if this.allows(&prefix).await {
                this.inner.load_range(prefix).await
            } else {
                HashMap::new()
            }
        }
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        let this = self.clone();
        async move {
            if this.allows(&key).await {
                this.inner.put(key, data).await;
            } else {
                tracing::error!(hall = %this.hall_id, "a hall's repo tried to write another hall's document: refused");
            }
        }
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        let this = self.clone();
        async move {
            if this.allows(&key).await {
                this.inner.delete(key).await;
            } else {
                tracing::error!(hall = %this.hall_id, "a hall's repo tried to delete another hall's document: refused");
            }
        }
    }
}

/// DESIGN.md decision 4, per (document, peer), within one hall's repo.
#[derive(Clone)]
struct SharePolicy {
    owners: Arc<Owners>,
    registry: Arc<Registry>,
}

impl SharePolicy {
    async fn decide(&self, doc: DocumentId, peer: PeerId) -> ShareConfig {
        let Some(kiosk) = self
            .registry
            .wait_identity(&peer, Duration::from_secs(5))
            .await
        else {
            tracing::warn!(%peer, "no authenticated kiosk behind this peer id: sharing nothing");
            return ShareConfig::none();
        };
        let owner = match self.owners.get(&doc).await {
            Ok(Some(o)) => o,
            // Nobody delivered it: nothing to share (kiosks' own documents
            // are claimed as their first sync message arrives, see
            // `sync_ws`).
            Ok(None) => return ShareConfig::none(),
            Err(e) => {
                tracing::error!(error = %e, "deciding on a document failed: sharing nothing");
                return ShareConfig::none();
            }
        };
        if owner.retired {
            return ShareConfig::none();
        }
        if owner.hall_id != kiosk.hall_id {
            tracing::debug!(doc = %doc, kiosk = %kiosk.kiosk_id, "another hall's document: not shared");
            return ShareConfig::none();
        }
        match (owner.kind.as_deref(), owner.owner_kiosk.as_deref()) {
            (Some("calendar"), _) => ShareConfig::read_only(),
            (Some("directory"), _) => ShareConfig::read_write(),
            (_, Some(o)) if o == kiosk.kiosk_id => ShareConfig::read_write(),
            // Another kiosk of the same hall: may read (e.g. a resident's
            // requests made at the other kiosk), never write.
            _ => ShareConfig::read_only().with_announce(false),
        }
    }
}
