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
//!
//! With several instances on one database ([`crate::cluster`]), a hall's
//! repo here is either its *holder's* (this instance holds the hall's
//! lease: the repo reads and writes the store, behind the lease's
//! [`Fence`], and projects) or a *relay* (another instance holds it: the
//! repo reads the store, never writes it, and syncs with the holder as a
//! peer). [`HallRepos::serving`] tells a kiosk's socket where to go;
//! [`HallRepos::hall`] gives whoever else needs the hall a repo of
//! either kind.

use std::{
    collections::{HashMap, HashSet},
    ops::Deref,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use automerge::Automerge;
use samod::{
    AcceptorHandle, BackoffConfig, DialerHandle, DocHandle, DocumentId, PeerId, Repo, RepoEvent,
    RepoObserver, ShareConfig,
    storage::{Storage, StorageKey},
};
use tokio::sync::mpsc;

use crate::{
    Error, Result,
    clock::now_ms,
    cluster::{Acquired, Cluster, Fence},
    db::DocOwner,
    documents::DocumentStore,
    registry::Registry,
    relay::{DIAL_TIMEOUT, DialProblem, PeerDialer},
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
    cluster: Option<Arc<Cluster>>,
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
    /// Holder, relay, or the only instance.
    role: Role,
    /// Until when this repo may write the store.
    fence: Arc<Fence>,
    /// The documents it has read from the store or written to it.
    resident: Resident,
}

/// What a hall's repo is on this instance.
enum Role {
    /// There is no cluster: this instance is the only one.
    Alone,
    /// This instance holds the hall's lease.
    Holder,
    /// Another instance holds it; this repo syncs with it.
    Relay {
        /// Where the holder is.
        holder: String,
        /// The connection to it.
        dialer: DialerHandle<DialProblem>,
    },
}

impl HallRepo {
    /// Whether the repo may still be handed out: a holder within its
    /// fence, a relay still connected to its holder.
    fn usable(&self) -> bool {
        match &self.role {
            Role::Alone => true,
            Role::Holder => self.fence.open(),
            Role::Relay { dialer, .. } => dialer.is_connected(),
        }
    }

    fn relay_holder(&self) -> Option<&str> {
        match &self.role {
            Role::Relay { holder, .. } => Some(holder),
            _ => None,
        }
    }
}

/// Where a kiosk's sync socket for a hall goes.
pub enum Serving {
    /// Here: this instance holds the hall (or is the only one).
    Here(Lease),
    /// To the instance at this address, which holds it.
    At(String),
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

/// How long a writer waits for a hall's holder to confirm a change made
/// through a relay.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

impl HallDoc {
    /// Wait until what was changed here is stored: at once on the hall's
    /// holder (its repo saves as it changes), and through a relay when the
    /// holder has confirmed it has every change. A writer that tells a
    /// person "saved" waits for this first.
    pub async fn confirmed(&self) -> Result<()> {
        let Role::Relay { dialer, holder } = &self._lease.role else {
            return Ok(());
        };
        let unconfirmed = || {
            Error::Unavailable(format!(
                "the instance serving hall {} ({holder}) did not confirm the change",
                self._lease.hall_id
            ))
        };
        let conn = dialer.connection_id().ok_or_else(unconfirmed)?;
        tokio::time::timeout(CONFIRM_TIMEOUT, self.handle.they_have_our_changes(conn))
            .await
            .map_err(|_| unconfirmed())
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
        cluster: Option<Arc<Cluster>>,
    ) -> HallRepos {
        HallRepos {
            shared: Arc::new(Shared {
                tables,
                storage,
                registry,
                peer_id,
                feed,
                cluster,
            }),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The cluster this instance is part of, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.shared.cluster.as_ref()
    }

    fn slot(&self, hall_id: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(hall_id.to_string()).or_default().clone()
    }

    /// The hall's repo, started if it is not running: the holder's, or a
    /// relay to the instance that holds it. While the hall changes hands
    /// (its holder was killed and its lease has yet to run out) this waits
    /// for the new holder, up to a lease's length and a little more.
    pub async fn hall(&self, hall_id: &str) -> Result<Lease> {
        let patience = self
            .shared
            .cluster
            .as_ref()
            .map_or(Duration::ZERO, |c| c.ttl + Duration::from_secs(3));
        let deadline = Instant::now() + patience;
        loop {
            if let Some(Serving::Here(lease)) = self.place(hall_id, true).await? {
                return Ok(lease);
            }
            if Instant::now() >= deadline {
                return Err(Error::Unavailable(format!(
                    "hall {hall_id} is moving between instances"
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Where a kiosk's sync socket for the hall goes: here (the hall's
    /// repo, this instance holding it) or to the holder's address; `None`
    /// while no instance can be reached for it (ask again shortly).
    pub async fn serving(&self, hall_id: &str) -> Result<Option<Serving>> {
        self.place(hall_id, false).await
    }

    /// The hall's repo as it runs, or placed anew: a running repo that is
    /// still usable is handed out (a relay only when `relay` is allowed);
    /// otherwise the hall's lease decides whether this instance holds it.
    async fn place(&self, hall_id: &str, relay: bool) -> Result<Option<Serving>> {
        let slot = self.slot(hall_id);
        let mut running = slot.lock().await;
        if let Some(repo) = running.as_ref() {
            if repo.usable() {
                if let (Some(holder), false) = (repo.relay_holder(), relay) {
                    return Ok(Some(Serving::At(holder.to_string())));
                }
                repo.last_used.store(now_ms(), Ordering::Relaxed);
                return Ok(Some(Serving::Here(Lease(repo.clone()))));
            }
            if let Some(repo) = running.take() {
                self.stop_hall(&repo, "its holder went away or its lease ran out")
                    .await;
            }
        }
        let Some(cluster) = self.shared.cluster.clone() else {
            let repo = Arc::new(start(&self.shared, hall_id, Role::Alone, Fence::default()).await?);
            tracing::debug!(hall = %hall_id, "hall repo started");
            *running = Some(repo.clone());
            return Ok(Some(Serving::Here(Lease(repo))));
        };
        match cluster.acquire(hall_id).await? {
            (Acquired::Held(lease), until) => {
                let repo = Arc::new(
                    start(&self.shared, hall_id, Role::Holder, Fence::until(until)).await?,
                );
                tracing::info!(hall = %hall_id, epoch = lease.epoch, "this instance now serves the hall");
                *running = Some(repo.clone());
                Ok(Some(Serving::Here(Lease(repo))))
            }
            (Acquired::Yield(_), _) => {
                // Another instance asked for the hall: give it back, and
                // route here again once it holds it.
                if let Some(repo) = running.take() {
                    self.stop_hall(&repo, "another instance asked for it").await;
                } else if let Err(e) = cluster.leases.release(hall_id, &cluster.instance).await {
                    tracing::warn!(hall = %hall_id, error = %e, "a hall's lease could not be given back: it runs out by itself");
                }
                Ok(None)
            }
            (Acquired::Elsewhere(lease), _)
                if lease.address.is_empty() || lease.address == cluster.address() =>
            {
                // An operator command holds it for a moment, or an earlier
                // process on this very address (restarted before its
                // lease ran out): never dial ourselves, wait.
                Ok(None)
            }
            (Acquired::Elsewhere(lease), _) if !relay => Ok(Some(Serving::At(lease.address))),
            (Acquired::Elsewhere(lease), _) => {
                match start_relay(&self.shared, &cluster, hall_id, &lease.address).await? {
                    Some(repo) => {
                        let repo = Arc::new(repo);
                        tracing::debug!(hall = %hall_id, holder = %lease.address, "relaying the hall to its holder");
                        *running = Some(repo.clone());
                        Ok(Some(Serving::Here(Lease(repo))))
                    }
                    None => Ok(None),
                }
            }
        }
    }

    /// Stop a hall's repo: its connections closed (kiosks reconnect by
    /// themselves), what it holds flushed, and a held lease given back.
    async fn stop_hall(&self, repo: &HallRepo, why: &str) {
        if matches!(repo.role, Role::Relay { .. }) {
            // The kiosks this instance pipes to the holder are not on the
            // relay; their pipes close by themselves if the holder went.
            stop_repo(&repo.repo).await;
            return;
        }
        let closed = self.shared.registry.kill_hall(&repo.hall_id);
        stop_repo(&repo.repo).await;
        tracing::info!(hall = %repo.hall_id, connections = closed, why, "hall repo stopped");
        self.release(repo).await;
    }

    /// Give back the lease of a hall this instance held.
    async fn release(&self, repo: &HallRepo) {
        if let (Role::Holder, Some(cluster)) = (&repo.role, &self.shared.cluster)
            && let Err(e) = cluster
                .leases
                .release(&repo.hall_id, &cluster.instance)
                .await
        {
            tracing::warn!(hall = %repo.hall_id, error = %e, "a hall's lease could not be given back: it runs out by itself");
        }
    }

    /// Renew the lease of every hall this instance holds; a hall whose
    /// lease was lost (taken after this instance was cut off or paused) is
    /// stopped at once. Run every third of a lease by the server's tasks.
    pub async fn renew_leases(&self) {
        let Some(cluster) = self.shared.cluster.clone() else {
            return;
        };
        for (hall, slot) in self.all_slots() {
            // A slot busy placing its hall (dialling a holder may take
            // seconds) holds no repo of ours to renew, or is handing one
            // out and is free again at the next round: never wait on it,
            // or the halls after it would miss their renewal.
            let Ok(mut running) = slot.try_lock() else {
                continue;
            };
            let Some(repo) = running.as_ref() else {
                continue;
            };
            if !matches!(repo.role, Role::Holder) {
                continue;
            }
            let lost = match cluster.acquire(&hall).await {
                Ok((Acquired::Held(_), until)) => {
                    repo.fence.renewed(until);
                    false
                }
                Ok((Acquired::Elsewhere(lease), _)) => {
                    tracing::warn!(%hall, holder = %lease.address, "this instance lost the hall's lease");
                    true
                }
                Ok((Acquired::Yield(_), _)) => {
                    tracing::info!(%hall, "another instance asked for the hall: handing it over");
                    true
                }
                Err(e) => {
                    tracing::warn!(%hall, error = %e, "the hall's lease could not be renewed");
                    !repo.fence.open()
                }
            };
            if lost && let Some(repo) = running.take() {
                self.stop_hall(&repo, "its lease was lost").await;
            }
        }
    }

    /// A document of the given hall, if its repo has or can find it.
    pub async fn find_in(&self, hall_id: &str, doc: DocumentId) -> Result<Option<HallDoc>> {
        let lease = self.hall(hall_id).await?;
        Ok(lease.repo.find(doc).await?.map(|handle| HallDoc {
            handle,
            _lease: lease,
        }))
    }

    /// A document of the given hall if this instance stores the hall (it
    /// holds it, or is the only instance); `None` when another instance
    /// holds it, which projects it.
    pub async fn find_held(&self, hall_id: &str, doc: DocumentId) -> Result<Option<HallDoc>> {
        let Some(Serving::Here(lease)) = self.serving(hall_id).await? else {
            return Ok(None);
        };
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

    /// Make a document for a hall whose owner `claim` records before any
    /// repo holds it: stored first (as samod stores a compacted
    /// document), claimed, then found in the hall's repo. A hall's repo
    /// asks who owns a document once per connection and keeps the answer,
    /// so a document that a repo held while it was unclaimed would never
    /// be given to a kiosk connected at that moment.
    pub async fn create_claimed<F, Fut>(
        &self,
        hall_id: &str,
        content: &Automerge,
        claim: F,
    ) -> Result<HallDoc>
    where
        F: FnOnce(DocumentId) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let id = DocumentId::new(&mut rand::rng());
        crate::documents::put_new_document(&*self.shared.storage, &id, content).await;
        claim(id.clone()).await?;
        self.find_in(hall_id, id.clone())
            .await?
            .ok_or_else(|| Error::NotFound(format!("the new document {id}")))
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

    /// How many documents the running repos hold, read from the store or
    /// written to it (a relay's are not counted: see [`Resident`]).
    pub fn loaded_documents(&self) -> usize {
        self.all_slots()
            .iter()
            .filter_map(|(_, s)| {
                s.try_lock()
                    .ok()
                    .and_then(|r| r.as_ref().map(|r| r.resident.count()))
            })
            .sum()
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
                self.release(&repo).await;
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
        let kept = match &self.shared.cluster {
            None => None,
            Some(cluster) => Some(self.keep_hall(cluster, hall_id).await?),
        };
        if let Some(repo) = running.take() {
            self.shared.registry.kill_hall(hall_id);
            stop_repo(&repo.repo).await;
            tracing::info!(hall = %hall_id, "hall repo stopped for a rebuild");
        }
        let done = work().await;
        if let (Some(keeper), Some(cluster)) = (kept, &self.shared.cluster) {
            keeper.abort();
            if let Err(e) = cluster.leases.release(hall_id, &cluster.instance).await {
                tracing::warn!(hall = %hall_id, error = %e, "a hall's lease could not be given back: it runs out by itself");
            }
        }
        done
    }

    /// Take the hall's lease for work done with no repo running, asking
    /// the instance that holds it to give it up (it does at its next
    /// renewal), and keep it renewed until the returned task is aborted.
    async fn keep_hall(
        &self,
        cluster: &Arc<Cluster>,
        hall_id: &str,
    ) -> Result<tokio::task::JoinHandle<()>> {
        let deadline = Instant::now() + cluster.ttl * 2 + Duration::from_secs(3);
        loop {
            match cluster.acquire(hall_id).await? {
                (Acquired::Held(_), _) => break,
                (Acquired::Elsewhere(_) | Acquired::Yield(_), _) if Instant::now() >= deadline => {
                    return Err(Error::Unavailable(format!(
                        "hall {hall_id} is in use at another instance, which did not hand it over"
                    )));
                }
                (Acquired::Elsewhere(_), _) => {
                    cluster.leases.ask_for(hall_id, &cluster.instance).await?;
                }
                // Ours but asked for by yet another instance: let it go
                // first, then ask again.
                (Acquired::Yield(_), _) => {
                    cluster.leases.release(hall_id, &cluster.instance).await?;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (cluster, hall) = (cluster.clone(), hall_id.to_string());
        Ok(tokio::spawn(async move {
            loop {
                tokio::time::sleep(cluster.ttl / 3).await;
                if let Err(e) = cluster.acquire(&hall).await {
                    tracing::warn!(%hall, error = %e, "the hall's lease could not be renewed");
                }
            }
        }))
    }

    /// Stop every repo (flushing what each holds) and give back the
    /// halls' leases.
    pub async fn stop(&self) {
        let stops = self.all_slots().into_iter().map(|(_, slot)| async move {
            if let Some(repo) = slot.lock().await.take() {
                stop_repo(&repo.repo).await;
                self.release(&repo).await;
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

/// Start a hall's repo that stores its documents (the holder's, or the
/// only instance's).
async fn start(shared: &Arc<Shared>, hall_id: &str, role: Role, fence: Fence) -> Result<HallRepo> {
    let owners = Arc::new(Owners {
        tables: shared.tables.clone(),
        known: Mutex::new(HashMap::new()),
    });
    let fence = Arc::new(fence);
    let resident = Resident::default();
    let storage = HallStorage {
        inner: shared.storage.clone(),
        hall_id: Arc::from(hall_id),
        owners: owners.clone(),
        writes: Writes::Fenced(fence.clone()),
        resident: resident.clone(),
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
        role,
        fence,
        resident,
    })
}

/// Start a relay repo for a hall another instance holds at `holder`:
/// it reads the store (so what it is asked for loads at once) but never
/// writes it, shares the hall's documents with the holder only, and is
/// dialled to the holder's peer endpoint. `None` when the holder cannot
/// be reached (it may have died; its lease runs out soon).
async fn start_relay(
    shared: &Arc<Shared>,
    cluster: &Cluster,
    hall_id: &str,
    holder: &str,
) -> Result<Option<HallRepo>> {
    let owners = Arc::new(Owners {
        tables: shared.tables.clone(),
        known: Mutex::new(HashMap::new()),
    });
    let resident = Resident::default();
    let storage = HallStorage {
        inner: shared.storage.clone(),
        hall_id: Arc::from(hall_id),
        owners: owners.clone(),
        writes: Writes::Never,
        resident: resident.clone(),
    };
    let hall: Arc<str> = Arc::from(hall_id);
    let repo = Repo::build_tokio()
        .with_storage(storage)
        .with_peer_id(cluster.relay_peer.clone())
        .with_share_policy(move |doc: DocumentId, _peer: PeerId| {
            let (owners, hall) = (owners.clone(), hall.clone());
            futures::stream::once(async move {
                match owners.get(&doc).await {
                    Ok(Some(o)) if !o.retired && o.hall_id.as_str() == &*hall => {
                        ShareConfig::read_write()
                    }
                    _ => ShareConfig::none(),
                }
            })
        })
        .load()
        .await;
    let dialer = PeerDialer {
        url: Cluster::peer_url(holder, hall_id)?,
        secret: cluster.secret.clone(),
        holder_peer: shared.peer_id.clone(),
    };
    let backoff = BackoffConfig {
        initial_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
        max_retries: Some(2),
    };
    let dialer = repo.dial(backoff, Arc::new(dialer))?;
    let established = tokio::time::timeout(DIAL_TIMEOUT * 2, dialer.established()).await;
    if !matches!(established, Ok(Ok(_))) {
        tracing::info!(hall = %hall_id, %holder, "the hall's holder cannot be reached: waiting for its lease to run out");
        dialer.close();
        stop_repo(&repo).await;
        return Ok(None);
    }
    let acceptor = repo.make_acceptor(
        url::Url::parse("ws://linli-server/relay").map_err(|e| Error::BadRequest(e.to_string()))?,
    )?;
    Ok(Some(HallRepo {
        hall_id: hall_id.to_string(),
        repo,
        acceptor,
        last_used: AtomicI64::new(now_ms()),
        role: Role::Relay {
            holder: holder.to_string(),
            dialer,
        },
        fence: Arc::new(Fence::default()),
        resident,
    }))
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
/// owns are neither read nor written, and writes stop at the lease's
/// fence (or never happen, in a relay).
#[derive(Clone)]
struct HallStorage {
    inner: Arc<dyn DocumentStore>,
    hall_id: Arc<str>,
    owners: Arc<Owners>,
    writes: Writes,
    resident: Resident,
}

/// The documents a hall's repo holds in memory, as its storage sees them:
/// each one read from the store or written to it since the repo started
/// (samod keeps a document until its repo stops). A relay's documents come
/// from the holder, not the store, so a relay counts none.
#[derive(Clone, Default)]
struct Resident(Arc<Mutex<HashSet<DocumentId>>>);

impl Resident {
    fn note(&self, key: &StorageKey) {
        if let Some(doc) = document_of(key) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(doc);
        }
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The document a storage key belongs to (its first component), if any.
fn document_of(key: &StorageKey) -> Option<DocumentId> {
    key.clone()
        .into_iter()
        .next()
        .and_then(|first| first.parse::<DocumentId>().ok())
}

/// Whether a hall's repo writes the store.
#[derive(Clone)]
enum Writes {
    /// While the fence is open (always, without a cluster).
    Fenced(Arc<Fence>),
    /// Never: a relay's holder stores the hall.
    Never,
}

impl Writes {
    fn allowed(&self, hall: &str) -> bool {
        match self {
            Writes::Fenced(fence) if fence.open() => true,
            Writes::Fenced(_) => {
                tracing::error!(%hall, "the hall's lease ran out: this instance writes none of its documents");
                false
            }
            Writes::Never => false,
        }
    }
}

impl HallStorage {
    /// Whether `key` may be read or written by this hall's repo. Keys that
    /// are not a document's (the storage id) are shared. When the owner
    /// cannot be read, the key is allowed: the share policy still decides
    /// who sees the document.
    async fn allows(&self, key: &StorageKey) -> bool {
        let Some(doc) = document_of(key) else {
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
                let found = this.inner.load(key.clone()).await;
                if found.is_some() {
                    this.resident.note(&key);
                }
                found
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
                let found = this.inner.load_range(prefix.clone()).await;
                if !found.is_empty() {
                    this.resident.note(&prefix);
                }
                found
            } else {
                HashMap::new()
            }
        }
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        let this = self.clone();
        async move {
            if !this.writes.allowed(&this.hall_id) {
                return;
            }
            if this.allows(&key).await {
                this.resident.note(&key);
                this.inner.put(key, data).await;
            } else {
                tracing::error!(hall = %this.hall_id, "a hall's repo tried to write another hall's document: refused");
            }
        }
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        let this = self.clone();
        async move {
            if !this.writes.allowed(&this.hall_id) {
                return;
            }
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
        if kiosk.relay {
            // Another instance's relay for the hall: it passes on what its
            // kiosks and admins write (documents it creates are claimed
            // just after), so it reads and writes every document of the
            // hall.
            return match self.owners.get(&doc).await {
                Ok(Some(o)) if o.retired || o.hall_id != kiosk.hall_id => ShareConfig::none(),
                Ok(_) => ShareConfig::read_write(),
                Err(e) => {
                    tracing::error!(error = %e, "deciding on a document failed: sharing nothing");
                    ShareConfig::none()
                }
            };
        }
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
            // The server's alone: the calendar, and the grants of points
            // and stock (kiosks only spend what these grant them).
            (Some("calendar" | crate::db::GRANTS_KIND), _) => ShareConfig::read_only(),
            (Some("directory"), _) => ShareConfig::read_write(),
            (_, Some(o)) if o == kiosk.kiosk_id => ShareConfig::read_write(),
            // Another kiosk of the same hall: may read (e.g. a resident's
            // requests made at the other kiosk), never write.
            _ => ShareConfig::read_only().with_announce(false),
        }
    }
}
