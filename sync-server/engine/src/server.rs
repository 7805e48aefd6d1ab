//! [`ServerCore`]: the hall repos over the server's store (with the share
//! policy of DESIGN.md decision 4, see [`crate::repos`]), the server's
//! tables, the projection's, and the live connection registry. The store
//! is a [`Store`]: the SQLite file in the data directory
//! ([`Store::sqlite`]) or the parts another store crate gives
//! (`linli-store-postgres`). Both `serve` and the operator CLI open one;
//! only `serve` also runs the projector and accepts connections.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use linli_core::{
    sqlite::{DbOptions, Durability},
    storage::SqliteStorage,
};
use samod::{DocumentId, PeerId};
use tokio::sync::mpsc;

use crate::{
    Error, Result,
    db::{DB_FILE, Db},
    documents::DocumentStore,
    projection_schema,
    projection_tables::ProjectionTables,
    random::random_hex,
    registry::Registry,
    repos::HallRepos,
    tables::ServerTables,
};

/// Everything the server holds. Shared by handlers behind an `Arc`.
pub struct ServerCore {
    /// The server's own tables, through their interface.
    pub tables: Arc<dyn ServerTables>,
    /// The projection's tables, through their interface.
    pub projection: Arc<dyn ProjectionTables>,
    /// The SQLite file when the store is SQLite (see [`ServerCore::sqlite`]).
    sqlite: Option<Db>,
    /// The document repositories, one per hall in use.
    pub repos: HallRepos,
    /// The documents' store under them.
    pub storage: Arc<dyn DocumentStore>,
    /// Live sync connections.
    pub registry: Arc<Registry>,
    /// The server's samod peer id.
    pub peer_id: PeerId,
    /// Residents' identity keys: pseudonym salt, sealing key pair.
    pub residents: crate::residents::ServerResidents,
    /// Where data lives.
    pub data_dir: PathBuf,
    /// Documents delivered first by a kiosk, waiting to be claimed for its
    /// hall together (see [`Db::claim_docs`]).
    pub claims: linli_core::group_commit::GroupCommit<crate::db::NewDoc, Result<crate::db::Claim>>,
    /// A sync connection silent this long is closed.
    idle_timeout: LiveDuration,
    /// A hall's repo unused this long is stopped.
    unload_idle_after: LiveDuration,
    dirty: Option<mpsc::UnboundedSender<DocumentId>>,
    /// What it has done since it started (`/metrics`).
    pub counters: crate::counters::Counters,
}

/// A duration that can be changed while the server runs (tests and
/// `serve` options set it after opening).
struct LiveDuration(std::sync::atomic::AtomicU64);

impl LiveDuration {
    fn new(d: Duration) -> Self {
        let this = LiveDuration(std::sync::atomic::AtomicU64::new(0));
        this.set(d);
        this
    }

    fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn set(&self, d: Duration) {
        self.0.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

const META_PEER_ID: &str = "peer_id";
/// The secret the instances of one database show each other
/// ([`crate::cluster`]).
const META_CLUSTER_SECRET: &str = "cluster_secret";

/// What a store gives the server: its own tables, the projection's, the
/// documents, and on SQLite the file itself.
pub struct Store {
    /// Halls, kiosks, admins, sessions, audit, document ownership.
    pub tables: Arc<dyn ServerTables>,
    /// The projection.
    pub projection: Arc<dyn ProjectionTables>,
    /// samod's documents.
    pub documents: Arc<dyn DocumentStore>,
    /// The SQLite file, when the store is SQLite.
    pub sqlite: Option<Db>,
    /// The halls' leases, when several instances may share the store
    /// (PostgreSQL): this instance joins their cluster
    /// ([`crate::cluster`]).
    pub leases: Option<Arc<dyn crate::cluster::HallLeases>>,
}

impl Store {
    /// The SQLite file at `path`, created and migrated (blocking). A file
    /// holding residents of the form before Linli 0.2 is refused unchanged.
    pub fn sqlite(path: &Path, options: DbOptions) -> Result<Self> {
        projection_schema::refuse_old_residents(path, options)?;
        let db = Db::open(
            path,
            options,
            &[("projection", projection_schema::MIGRATIONS)],
        )?;
        let storage = SqliteStorage::open(path, options)?;
        Ok(Self {
            tables: Arc::new(db.clone()),
            projection: Arc::new(db.clone()),
            documents: Arc::new(storage),
            sqlite: Some(db),
            leases: None,
        })
    }
}

fn create_data_dir(data_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
        context: format!("creating the data directory {}", data_dir.display()),
        source,
    })
}

impl ServerCore {
    /// How long a sync connection may stay silent.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout.get()
    }

    /// Set [`ServerCore::idle_timeout`].
    pub fn set_idle_timeout(&self, t: Duration) {
        self.idle_timeout.set(t);
    }

    /// How long a hall's repo may go unused before it is stopped.
    pub fn unload_idle_after(&self) -> Duration {
        self.unload_idle_after.get()
    }

    /// Set [`ServerCore::unload_idle_after`].
    pub fn set_unload_idle_after(&self, t: Duration) {
        self.unload_idle_after.set(t);
    }

    /// Open the server's data directory (creating it). With `projector`,
    /// document changes are fed to the returned receiver for projection.
    pub async fn open(
        data_dir: &Path,
        durability: Durability,
        projector: bool,
    ) -> Result<(Arc<ServerCore>, Option<mpsc::UnboundedReceiver<DocumentId>>)> {
        Self::open_with(
            data_dir,
            DbOptions {
                durability,
                max_page_count: None,
            },
            projector,
        )
        .await
    }

    /// [`ServerCore::open`] with every database option, e.g. a size cap in
    /// pages (`max_page_count`): the database refuses to grow beyond it,
    /// as on a full disk.
    pub async fn open_with(
        data_dir: &Path,
        options: DbOptions,
        projector: bool,
    ) -> Result<(Arc<ServerCore>, Option<mpsc::UnboundedReceiver<DocumentId>>)> {
        create_data_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let store = tokio::task::spawn_blocking(move || Store::sqlite(&path, options))
            .await
            .map_err(|e| Error::Io {
                context: "opening the database".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
        Self::open_on(data_dir, store, projector).await
    }

    /// Open the server on `store`, with its residents' key in `data_dir`
    /// (created on the first start; several instances on one database
    /// share one key file). With `projector`, document changes are fed to
    /// the returned receiver for projection.
    pub async fn open_on(
        data_dir: &Path,
        store: Store,
        projector: bool,
    ) -> Result<(Arc<ServerCore>, Option<mpsc::UnboundedReceiver<DocumentId>>)> {
        create_data_dir(data_dir)?;
        let Store {
            tables,
            projection,
            documents,
            sqlite,
            leases,
        } = store;
        let residents = crate::residents::ServerResidents::open(data_dir, tables.as_ref()).await?;
        let peer_id = PeerId::from(
            tables
                .meta_or_insert(META_PEER_ID, &format!("linli-server-{}", random_hex(8)))
                .await?,
        );
        let registry = Arc::new(Registry::default());
        let (tx, rx) = if projector {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let cluster = match leases {
            None => None,
            Some(leases) => {
                let secret = tables
                    .meta_or_insert(META_CLUSTER_SECRET, &random_hex(32))
                    .await?;
                Some(Arc::new(crate::cluster::Cluster::new(leases, secret)))
            }
        };
        let repos = HallRepos::new(
            tables.clone(),
            documents.clone(),
            registry.clone(),
            peer_id.clone(),
            tx.clone(),
            cluster,
        );
        Ok((
            Arc::new(ServerCore {
                tables,
                projection,
                sqlite,
                repos,
                storage: documents,
                registry,
                peer_id,
                residents,
                data_dir: data_dir.to_path_buf(),
                claims: Default::default(),
                idle_timeout: LiveDuration::new(crate::limits::IDLE_TIMEOUT),
                unload_idle_after: LiveDuration::new(crate::repos::UNLOAD_IDLE_AFTER),
                dirty: tx,
                counters: Default::default(),
            }),
            rx,
        ))
    }

    /// The SQLite file, for what only it does (backups, the old-form
    /// upgrade, the demo's and tests' seeds); an error naming `what` on
    /// PostgreSQL.
    pub fn sqlite(&self, what: &str) -> Result<&Db> {
        self.sqlite.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "{what} works on the SQLite store only; this server's store is PostgreSQL"
            ))
        })
    }

    /// Ask the projector to look at a document again (after a server-side edit).
    pub fn mark_dirty(&self, doc: DocumentId) {
        if let Some(tx) = &self.dirty {
            let _ = tx.send(doc);
        }
    }

    /// Stop the repository (flushing what it holds).
    pub async fn stop(&self) {
        self.registry.kill_all();
        self.storage.close();
        self.repos.stop().await;
        // Every hall's lease given back and its documents flushed: the
        // store's connections can go (a core that outlives its stop, as in
        // an operator command or a test, then holds none).
        if let Some(cluster) = self.repos.cluster() {
            cluster.leases.close();
        }
        self.tables.close_connections();
    }
}
