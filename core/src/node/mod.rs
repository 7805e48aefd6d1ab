//! [`KioskNode`]: the headless kiosk. It owns the samod repo, the kiosk's
//! SQLite file (documents and journal) and the dialer, records each kind
//! of record — returning only once it is committed to disk — and reports
//! a [`SyncStatus`] the kiosk's status strip shows.
//!
//! How a record travels: validate → commit to the [`journal`] (the call
//! returns here) → the [`applier`] writes it into today's ledger (or this
//! month's request book) as one Automerge change → samod persists and
//! syncs it. A background task watches the server's
//! acknowledgements (`they_have_our_changes`) and marks journal rows
//! synced, lists new documents in the hall directory, and loads the hall
//! calendar once it can be had. Residents become pseudonyms and sealed
//! contacts in [`residents`] before anything is written.

mod applier;
pub mod dialer;
mod files;
pub mod journal;
mod market;
mod pinned_ca;
pub mod residents;
pub mod restore;
mod upgrade;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use automerge::Automerge;
use chrono::{DateTime, Utc};
use samod::{BackoffConfig, DialerHandle, DocHandle, DocumentId, PeerId, Repo, ShareConfig};
use serde::Serialize;
use tokio::{sync::watch, task::JoinHandle};
use url::Url;

use self::{
    applier::{Applier, Pending},
    dialer::{DialFailure, KioskDialer},
    journal::{Entry, Journal},
    market::spender_of,
    residents::Residents,
};
use crate::{
    Error, Result,
    docs::{self, DocKind, calendar, directory, erase_points, ledger, points, requests},
    ids::RecordId,
    model::{
        Activity, CheckIn, Rating, Request, RequestReply, RequestStatus, ResidentRef, ShiftAction,
        ShiftEvent, WalkInService,
    },
    phone::PhoneNumber,
    protocol::{self, KioskConfig},
    sqlite::{DbOptions, Durability},
    storage::SqliteStorage,
};

/// The kiosk's SQLite file of record (pairing, journal) inside its data
/// directory; its documents are in [`DOCUMENTS_FILE`] beside it.
pub const STORE_FILE: &str = "kiosk.sqlite3";
pub use files::DOCUMENTS_FILE;
pub use market::{Redemption, Shop, ShopItem};
pub use pinned_ca::PINNED_CA_FILE;

/// A source of wall-clock time in ms (injectable for tests and skew).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| Utc::now().timestamp_millis())
}

/// How to open a [`KioskNode`].
#[derive(Clone)]
pub struct KioskNodeOptions {
    /// Directory holding the kiosk's SQLite files.
    pub data_dir: PathBuf,
    /// Commit durability (default: survives a power cut).
    pub durability: Durability,
    /// Cap the store's size in 4 KiB pages (tests of a full disk).
    pub max_page_count: Option<u64>,
    /// Reconnect backoff.
    pub backoff: BackoffConfig,
    /// Wall clock.
    pub clock: Clock,
    /// Dial the server (false: stay offline until [`KioskNode::go_online`]).
    pub connect: bool,
    /// Use this server address instead of the one stored at pairing (the
    /// demo's in-process server listens on a new port each run).
    pub server_override: Option<Url>,
    /// Which servers to trust over https/wss (default: the public roots;
    /// a street office with its own CA pins it).
    pub trust: crate::tls::Trust,
}

impl KioskNodeOptions {
    /// Defaults for a kiosk storing in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            durability: Durability::Full,
            max_page_count: None,
            backoff: BackoffConfig {
                initial_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(10),
                max_retries: None,
            },
            clock: system_clock(),
            connect: true,
            server_override: None,
            trust: crate::tls::Trust::default(),
        }
    }

    fn db_options(&self) -> DbOptions {
        DbOptions {
            durability: self.durability,
            max_page_count: self.max_page_count,
        }
    }
}

/// What the kiosk's status strip shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SyncStatus {
    /// Connected to the server now.
    pub online: bool,
    /// Records the server has not confirmed yet.
    pub waiting: u64,
    /// Last time the server confirmed it had everything, ms.
    pub last_sync_ms: Option<i64>,
    /// Why the last connection attempt failed, if it did.
    pub last_error: Option<String>,
    /// Set while writes to the local store are failing.
    pub store_error: Option<String>,
    /// The hall calendar has been loaded.
    pub calendar_ready: bool,
    /// The dialer gave up for good (token refused, protocol mismatch).
    pub needs_repair: bool,
}

/// A resident identified on the keypad.
#[derive(Clone, Debug)]
pub struct ResidentInput {
    /// The number typed.
    pub phone: PhoneNumber,
    /// Optional short name (e.g. 李阿姨).
    pub name: Option<String>,
}

/// A check-in as the screen collects it.
#[derive(Clone, Debug)]
pub struct NewCheckIn {
    /// The activity.
    pub activity_id: String,
    /// Named resident, or `None` for a headcount tap.
    pub resident: Option<ResidentInput>,
    /// People in a headcount tap (ignored for named check-ins).
    pub headcount: u32,
    /// Companions.
    pub companions: u32,
}

/// A walk-in visit to record: a resident (or someone who left no number)
/// came for one of the hall's everyday services, no activity.
pub struct NewWalkIn {
    /// The service's id in the hall calendar.
    pub service: String,
    /// Named resident, or `None` when they leave no number (counted once).
    pub resident: Option<ResidentInput>,
    /// Companions.
    pub companions: u32,
}

/// What recording a check-in did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckInOutcome {
    /// Recorded and on disk.
    Recorded(RecordId),
    /// This resident already checked in to this activity; nothing new.
    AlreadyCheckedIn,
}

/// A volunteer's standing, for the volunteer screen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VolunteerSummary {
    /// The open shift (its sign-in id and time), if signed in.
    pub open_shift: Option<(String, i64)>,
    /// Hours served this month (closed shifts).
    pub hours_this_month: f64,
    /// Points earned in all (redemption comes with the points catalogue).
    pub points: u32,
}

/// A request as the resident sees it under "My requests".
#[derive(Clone, Debug, PartialEq)]
pub struct MyRequest {
    /// Record id.
    pub id: String,
    /// Short reference read out to the resident.
    pub reference: String,
    /// The request.
    pub request: Request,
    /// Status (received until the server says otherwise).
    pub status: RequestStatus,
    /// Staff reply, once given.
    pub reply: Option<String>,
}

struct Shared {
    repo: Repo,
    storage: SqliteStorage,
    journal: Journal,
    config: KioskConfig,
    residents: Residents,
    tz: chrono_tz::Tz,
    clock: Clock,
    docs: tokio::sync::Mutex<HashMap<(DocKind, String), DocHandle>>,
    calendar: Mutex<Option<DocHandle>>,
    directory: Mutex<Option<DocHandle>>,
    /// The hall's grants of points and stock (found through the
    /// directory).
    grants: Mutex<Option<DocHandle>>,
    /// The grants document's heads when this store last handed back what
    /// it held above its shares (`market::hand_back_excess`).
    grants_seen: Mutex<Vec<automerge::ChangeHash>>,
    /// The heads of this store's spends document when last checked for
    /// records it never wrote (`market::carry_on_if_restored`).
    spends_seen: Mutex<Vec<automerge::ChangeHash>>,
    /// Redemptions asking the server for more right now
    /// (`KioskNode::redeem_or_ask`).
    asking: std::sync::atomic::AtomicUsize,
    /// Whether asks left standing by an earlier run were withdrawn.
    asks_checked: std::sync::atomic::AtomicBool,
    dialer: Mutex<Option<DialerHandle<DialFailure>>>,
    dial_error: Mutex<Option<Arc<Mutex<Option<String>>>>>,
    bytes_sent: Arc<std::sync::atomic::AtomicU64>,
    server_url: Url,
    token: String,
    status: watch::Sender<SyncStatus>,
    wake: Arc<tokio::sync::Notify>,
    applier: Applier,
    recording: tokio::sync::Mutex<()>,
    /// The directory's heads when its retired documents were last acted on.
    retired_seen: Mutex<Vec<automerge::ChangeHash>>,
    /// A store of Linli 0.1 still has documents of the old form (read once
    /// at open, so sync rounds do not ask the disk; see `upgrade::finish`).
    converting: std::sync::atomic::AtomicBool,
    backoff: BackoffConfig,
    trust: crate::tls::Trust,
}

/// The headless kiosk. Cheap to clone; every method is async and never
/// blocks the caller's executor on disk.
#[derive(Clone)]
pub struct KioskNode {
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

const META_SERVER: &str = "server_url";
const META_TOKEN: &str = "token";
const META_CONFIG: &str = "config";
/// This store's spender id for redemption.
const META_SPENDER: &str = "points.spender";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            context: "kiosk store worker".into(),
            source: std::io::Error::other(e.to_string()),
        })?
}

/// Run a store call that a resident is waiting on (a tap's commit): in
/// place on a multi-threaded runtime, where tokio first hands this
/// worker's other tasks to another thread, which spares the tap two
/// thread hand-offs (about a tenth of a millisecond on a 2-core kiosk);
/// on the blocking pool under a single-threaded runtime, where running in
/// place would stall everything else.
async fn waited_on_store<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => blocking(f).await,
    }
}

impl KioskNode {
    /// True when the kiosk in `data_dir` has been paired.
    pub async fn is_provisioned(data_dir: &Path) -> Result<bool> {
        let path = files::journal_path(data_dir);
        if !path.exists() {
            return Ok(false);
        }
        blocking(move || {
            let j = Journal::open(&path, DbOptions::default())?;
            Ok(j.meta(META_CONFIG)?.is_some())
        })
        .await
    }

    /// Pair with a server: fetch this kiosk's configuration with `token`,
    /// remember it, and open the node.
    pub async fn pair(options: KioskNodeOptions, server: &Url, token: &str) -> Result<KioskNode> {
        let config = protocol::fetch_kiosk_config(server, token, &options.trust).await?;
        Self::remember_pairing(options, server, token, config, None).await
    }

    /// Pair as [`KioskNode::pair`] does, with a pairing link that names the
    /// server's CA by `fingerprint`: the pairing request goes only to a
    /// server whose chain holds a certificate with that fingerprint and
    /// verifies up to it ([`crate::tls::FingerprintPin`]). That
    /// certificate is stored in [`PINNED_CA_FILE`] and is the only one the
    /// kiosk trusts from then on, at every start ([`KioskNode::open`]).
    /// Refused, storing nothing, when the server presents no such
    /// certificate.
    pub async fn pair_pinning(
        mut options: KioskNodeOptions,
        server: &Url,
        token: &str,
        fingerprint: &crate::tls::Fingerprint,
    ) -> Result<KioskNode> {
        if server.scheme() != "https" {
            return Err(Error::invalid(
                "pairing link",
                "a CA fingerprint is pinned only over https://",
            ));
        }
        let pin = crate::tls::FingerprintPin::new(*fingerprint)?;
        let config = match protocol::fetch_kiosk_config(server, token, pin.trust()).await {
            Ok(config) => config,
            Err(_) if pin.saw_no_match() => {
                return Err(Error::invalid(
                    "server certificate",
                    format!(
                        "the server at {} presented no certificate with the fingerprint in the \
                         pairing link ({}): it is not the server the link was made for (a wrong \
                         address, or someone in between); nothing was stored",
                        server.host_str().unwrap_or_default(),
                        fingerprint.to_colon_hex()
                    ),
                ));
            }
            Err(e) => return Err(e),
        };
        let pem = pin.found_pem().ok_or_else(|| {
            Error::invalid(
                "server certificate",
                "the pairing request passed without the pinned certificate being found",
            )
        })?;
        options.trust = crate::tls::Trust::pinned_ca(pem.as_bytes())?;
        Self::remember_pairing(options, server, token, config, Some(pem)).await
    }

    /// Store what pairing gave (and the certificate to pin, if any), then
    /// open the node.
    async fn remember_pairing(
        options: KioskNodeOptions,
        server: &Url,
        token: &str,
        config: KioskConfig,
        pinned_pem: Option<String>,
    ) -> Result<KioskNode> {
        std::fs::create_dir_all(&options.data_dir).map_err(|source| Error::Io {
            context: format!("creating {}", options.data_dir.display()),
            source,
        })?;
        let path = files::journal_path(&options.data_dir);
        let db = options.db_options();
        let json =
            serde_json::to_string(&config).map_err(|e| Error::invalid("config", e.to_string()))?;
        let server_s = server.to_string();
        let token_s = token.to_string();
        let data_dir = options.data_dir.clone();
        blocking(move || {
            let j = Journal::open(&path, db)?;
            if let Some(existing) = j.meta(META_CONFIG)? {
                let old: KioskConfig = serde_json::from_str(&existing)
                    .map_err(|e| Error::invalid("stored config", e.to_string()))?;
                if old.hall_id != config.hall_id {
                    return Err(Error::invalid(
                        "pairing",
                        format!(
                            "this kiosk's store belongs to hall {}; use an empty data directory for hall {}",
                            old.hall_id, config.hall_id
                        ),
                    ));
                }
            }
            // The certificate is written aside first and put in place once
            // the pairing is stored: a kiosk is never paired by a link
            // without its pin, nor left with a pin of a pairing that failed.
            let pin = pinned_pem
                .map(|pem| pinned_ca::stage(&data_dir, &pem))
                .transpose()?;
            let stored =
                j.set_meta(&[(META_SERVER, &server_s), (META_TOKEN, &token_s), (META_CONFIG, &json)]);
            match (stored, pin) {
                (Ok(()), Some(staged)) => staged.commit(),
                (Ok(()), None) => Ok(()),
                (Err(e), staged) => {
                    drop(staged);
                    Err(e)
                }
            }
        })
        .await?;
        Self::open(options).await
    }

    /// Open a paired kiosk. Works with no network: records go to disk and
    /// sync when the server is reachable.
    /// A kiosk paired by a link with a CA fingerprint trusts the
    /// certificate it pinned then ([`PINNED_CA_FILE`]), unless `options`
    /// pin a CA of their own (`--ca` wins).
    pub async fn open(mut options: KioskNodeOptions) -> Result<KioskNode> {
        let path = files::journal_path(&options.data_dir);
        if !path.exists() {
            return Err(Error::NotProvisioned);
        }
        if !options.trust.is_pinned() {
            let dir = options.data_dir.clone();
            if let Some(trust) = blocking(move || pinned_ca::load(&dir)).await? {
                options.trust = trust;
            }
        }
        let db = options.db_options();
        let data_dir = options.data_dir.clone();
        let (journal, storage, meta) = blocking(move || {
            // The journal is the durable record (FULL); the documents are
            // written again from it at start should a power cut take their
            // last commits, so their own file's commits need not wait for
            // the disk (see `files`).
            let (journal, storage) = files::open(&data_dir, db)?;
            let meta = (
                journal.meta(META_SERVER)?,
                journal.meta(META_TOKEN)?,
                journal.meta(META_CONFIG)?,
            );
            Ok((journal, storage, meta))
        })
        .await?;
        let (Some(server), Some(token), Some(config_json)) = meta else {
            return Err(Error::NotProvisioned);
        };
        let mut config: KioskConfig = serde_json::from_str(&config_json)
            .map_err(|e| Error::invalid("stored kiosk configuration", e.to_string()))?;
        let server_url = match &options.server_override {
            Some(url) => url.clone(),
            None => Url::parse(&server)
                .map_err(|e| Error::invalid("stored server address", e.to_string()))?,
        };
        if config.identity.is_none() && config_json.contains("\"phone_key\"") {
            // A store of Linli 0.1: converted in place if its server can say how.
            let server_url = Url::parse(&server)
                .map_err(|e| Error::invalid("stored server address", e.to_string()))?;
            let url = options.server_override.as_ref().unwrap_or(&server_url);
            config = upgrade::convert_store(
                &journal,
                &config_json,
                url,
                &token,
                &options.trust,
                META_CONFIG,
                (options.clock)(),
            )
            .await?;
        }
        let j = journal.clone();
        let converting = blocking(move || j.meta(upgrade::META_PENDING))
            .await?
            .is_some();
        let Some(identity) = &config.identity else {
            return Err(Error::invalid(
                "kiosk store",
                "its pairing configuration has no residents' identity keys and no old phone key, so \
                 it can be neither opened nor converted; pair the kiosk again into an empty data \
                 directory: linli-kiosk --data-dir EMPTY_DIR --server URL --token TOKEN (a new token \
                 from the console's kiosks page)",
            ));
        };
        let residents = Residents::new(identity)?;
        let tz = chrono_tz::Tz::from_str(&config.tz).unwrap_or(chrono_tz::Asia::Shanghai);
        let server_peer = PeerId::from(config.server_peer_id.clone());
        let policy_peer = server_peer.clone();
        let repo = Repo::build_tokio()
            .with_storage(storage.clone())
            .with_peer_id(PeerId::from(protocol::kiosk_peer_id(&config.kiosk_id)))
            .with_share_policy(move |_doc: DocumentId, peer: PeerId| {
                let decision = if peer == policy_peer {
                    ShareConfig::read_write()
                } else {
                    ShareConfig::none()
                };
                futures::stream::iter([decision])
            })
            .load()
            .await;
        let (status, _) = watch::channel(SyncStatus::default());
        let wake = Arc::new(tokio::sync::Notify::new());
        let (applier, applier_task) = Applier::start(wake.clone());
        let shared = Arc::new(Shared {
            repo,
            storage,
            journal,
            config,
            residents,
            tz,
            clock: options.clock.clone(),
            docs: tokio::sync::Mutex::new(HashMap::new()),
            calendar: Mutex::new(None),
            grants: Mutex::new(None),
            grants_seen: Mutex::new(Vec::new()),
            spends_seen: Mutex::new(Vec::new()),
            asking: std::sync::atomic::AtomicUsize::new(0),
            asks_checked: std::sync::atomic::AtomicBool::new(false),
            directory: Mutex::new(None),
            dialer: Mutex::new(None),
            dial_error: Mutex::new(None),
            bytes_sent: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            server_url,
            token,
            status,
            wake,
            applier,
            recording: tokio::sync::Mutex::new(()),
            retired_seen: Mutex::new(Vec::new()),
            converting: std::sync::atomic::AtomicBool::new(converting),
            backoff: options.backoff,
            trust: options.trust.clone(),
        });
        let node = KioskNode {
            shared,
            tasks: Arc::new(Mutex::new(vec![applier_task])),
        };
        node.replay_journal().await?;
        node.open_current_docs().await?;
        market::close_if_restored(&node.shared).await?;
        node.refresh_status().await;
        if options.connect {
            node.go_online()?;
        }
        let watcher = tokio::spawn(sync_watcher(node.shared.clone()));
        if let Ok(mut t) = node.tasks.lock() {
            t.push(watcher);
        }
        Ok(node)
    }

    /// Start dialing the server (no-op if already dialing).
    pub fn go_online(&self) -> Result<()> {
        let mut slot = self.shared.dialer.lock().map_err(|_| Error::Stopped)?;
        if slot.is_some() {
            return Ok(());
        }
        let url = protocol::sync_url(&self.shared.server_url)?;
        let dialer = KioskDialer::new(
            url,
            self.shared.token.clone(),
            PeerId::from(self.shared.config.server_peer_id.clone()),
        );
        if let Ok(mut e) = self.shared.dial_error.lock() {
            *e = Some(dialer.last_error_slot());
        }
        let dialer = dialer
            .with_byte_counter(self.shared.bytes_sent.clone())
            .with_trust(self.shared.trust.clone());
        let handle = self
            .shared
            .repo
            .dial(self.shared.backoff.clone(), Arc::new(dialer))?;
        *slot = Some(handle);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Stop dialing and drop the connection (simulates losing the network).
    pub fn go_offline(&self) {
        if let Ok(mut slot) = self.shared.dialer.lock()
            && let Some(d) = slot.take()
        {
            d.close();
        }
        self.shared.wake.notify_one();
    }

    /// The server address in use.
    pub fn server_url(&self) -> &Url {
        &self.shared.server_url
    }

    /// This kiosk's configuration from pairing.
    pub fn config(&self) -> &KioskConfig {
        &self.shared.config
    }

    /// The status strip's data, updated as things change.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.shared.status.subscribe()
    }

    /// Now on the kiosk's clock, ms.
    pub fn now_ms(&self) -> i64 {
        (self.shared.clock)()
    }

    /// The hall-local date of `ms` (`2026-11-23`).
    pub fn local_date(&self, ms: i64) -> String {
        self.local(ms).format("%Y-%m-%d").to_string()
    }

    fn local(&self, ms: i64) -> DateTime<chrono_tz::Tz> {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&self.shared.tz)
    }

    /// The resident reference documents keep for a typed number: its slow
    /// pseudonym, the contact sealed to the server, the name boxed.
    pub async fn resident_ref(&self, r: &ResidentInput) -> Result<ResidentRef> {
        let now = self.now_ms();
        // Sealed ahead (the usual case at a tap, and only ever for a name
        // that passed the checks): no trip to a worker thread.
        if let Some(ready) = self
            .shared
            .residents
            .take_ready(&r.phone, r.name.as_deref(), now)
        {
            return Ok(ready);
        }
        let (residents, r) = (self.shared.residents.clone(), r.clone());
        blocking(move || residents.reference(&r.phone, r.name.as_deref(), now)).await
    }

    /// A resident's pseudonym (slow the first time in a visit).
    async fn pseudonym(&self, phone: &PhoneNumber) -> Result<String> {
        let (residents, phone, now) = (self.shared.residents.clone(), phone.clone(), self.now_ms());
        blocking(move || Ok(residents.keys(&phone, now)?.pseudonym().to_string())).await
    }

    /// Forget the keys of the residents of the last visits (idle reset).
    pub fn forget_residents(&self) {
        self.shared.residents.forget();
    }

    /// Record a check-in. Returns once it is on disk; a second check-in of
    /// the same resident to the same activity records nothing new.
    pub async fn record_checkin(&self, input: NewCheckIn) -> Result<CheckInOutcome> {
        self.record_visit(
            input.activity_id,
            None,
            input.resident,
            input.headcount,
            input.companions,
        )
        .await
    }

    /// Record a walk-in visit for one of the hall's services. Returns once
    /// it is on disk; the same resident for the same service on the same
    /// day is counted once (a second tap records nothing new). Someone who
    /// leaves no number counts as one person.
    pub async fn record_walk_in(&self, input: NewWalkIn) -> Result<CheckInOutcome> {
        self.record_visit(
            String::new(),
            Some(input.service),
            input.resident,
            1,
            input.companions,
        )
        .await
    }

    async fn record_visit(
        &self,
        activity_id: String,
        service: Option<String>,
        resident: Option<ResidentInput>,
        headcount: u32,
        companions: u32,
    ) -> Result<CheckInOutcome> {
        let resident = match &resident {
            Some(r) => Some(self.resident_ref(r).await?),
            None => None,
        };
        let checkin = CheckIn {
            activity_id,
            service,
            headcount: if resident.is_some() { 1 } else { headcount },
            resident,
            companions,
            kiosk_id: self.shared.config.kiosk_id.clone(),
            at_ms: self.now_ms(),
        };
        checkin.validate()?;
        let period = self.local_date(checkin.at_ms);
        // What a resident is counted once for: an activity, or a service on a day.
        let visited = match &checkin.service {
            None => checkin.activity_id.clone(),
            Some(service) => format!("walk-in:{service}:{period}"),
        };
        let id = RecordId::new();
        let phone_hash = checkin.resident.as_ref().map(|r| r.pseudonym.clone());
        let once = phone_hash.is_some();
        let recorded = self
            .record(
                DocKind::Ledger,
                &period,
                ledger::CHECKINS,
                id,
                &checkin,
                Some(visited),
                phone_hash,
                checkin.at_ms,
                once,
            )
            .await?;
        if !recorded {
            return Ok(CheckInOutcome::AlreadyCheckedIn);
        }
        Ok(CheckInOutcome::Recorded(id))
    }

    /// Record a rating (1–5) of an activity, with an optional reason chip.
    pub async fn record_rating(
        &self,
        activity_id: &str,
        score: u32,
        reason: Option<String>,
    ) -> Result<RecordId> {
        let rating = Rating {
            activity_id: activity_id.to_string(),
            score,
            reason,
            kiosk_id: self.shared.config.kiosk_id.clone(),
            at_ms: self.now_ms(),
        };
        rating.validate()?;
        let id = RecordId::new();
        let period = self.local_date(rating.at_ms);
        self.record(
            DocKind::Ledger,
            &period,
            ledger::RATINGS,
            id,
            &rating,
            Some(rating.activity_id.clone()),
            None,
            rating.at_ms,
            false,
        )
        .await?;
        Ok(id)
    }

    /// Record a request or suggestion. Returns its id; its
    /// [`RecordId::short_reference`] is what the resident is given.
    pub async fn record_request(
        &self,
        category: crate::model::RequestCategory,
        text: String,
        resident: Option<ResidentInput>,
        callback_consent: bool,
    ) -> Result<RecordId> {
        let resident = match &resident {
            Some(r) => Some(self.resident_ref(r).await?),
            None => None,
        };
        let request = Request {
            category: category.code().to_string(),
            text,
            resident,
            callback_consent,
            kiosk_id: self.shared.config.kiosk_id.clone(),
            at_ms: self.now_ms(),
        };
        request.validate()?;
        let id = RecordId::new();
        let month = self.local(request.at_ms).format("%Y-%m").to_string();
        let phone_hash = request.resident.as_ref().map(|r| r.pseudonym.clone());
        self.record(
            DocKind::RequestBook,
            &month,
            requests::REQUESTS,
            id,
            &request,
            None,
            phone_hash,
            request.at_ms,
            false,
        )
        .await?;
        Ok(id)
    }

    /// Record a volunteer signing in (`shift_id` None) or out (the
    /// sign-in's id).
    pub async fn record_shift(
        &self,
        volunteer: ResidentInput,
        action: ShiftAction,
        shift_id: Option<String>,
        activity_id: Option<String>,
    ) -> Result<RecordId> {
        let id = RecordId::new();
        let shift_id = match (action, shift_id) {
            (ShiftAction::SignIn, _) => id.to_string(),
            (ShiftAction::SignOut, Some(s)) => s,
            (ShiftAction::SignOut, None) => {
                return Err(Error::invalid("sign-out", "names no sign-in"));
            }
        };
        let event = ShiftEvent {
            volunteer: self.resident_ref(&volunteer).await?,
            action: action.code().to_string(),
            shift_id,
            activity_id: activity_id.clone(),
            kiosk_id: self.shared.config.kiosk_id.clone(),
            at_ms: self.now_ms(),
        };
        event.validate()?;
        let period = self.local_date(event.at_ms);
        let phone_hash = Some(event.volunteer.pseudonym.clone());
        self.record(
            DocKind::Ledger,
            &period,
            ledger::SHIFTS,
            id,
            &event,
            activity_id,
            phone_hash,
            event.at_ms,
            false,
        )
        .await?;
        Ok(id)
    }

    /// Journal a record and queue it for its document; `Ok(true)` once it
    /// is on disk. With `once`, a check-in the journal already holds for
    /// the same resident and visit (`activity_id`) is not recorded again
    /// (`Ok(false)`): the check and the insert are one visit to the store,
    /// under the lock that orders records, so two taps at once cannot
    /// both pass it.
    #[allow(clippy::too_many_arguments)]
    async fn record<T: autosurgeon::Reconcile + Serialize>(
        &self,
        kind: DocKind,
        period: &str,
        map: &str,
        id: RecordId,
        value: &T,
        activity_id: Option<String>,
        phone_hash: Option<String>,
        at_ms: i64,
        once: bool,
    ) -> Result<bool> {
        let payload =
            serde_json::to_string(value).map_err(|e| Error::invalid("record", e.to_string()))?;
        let entry = Entry {
            record_id: id.to_string(),
            doc_kind: kind,
            period: period.to_string(),
            map: map.to_string(),
            payload,
            activity_id,
            phone_hash,
            created_ms: at_ms,
        };
        let payload =
            serde_json::to_value(value).map_err(|e| Error::invalid("record", e.to_string()))?;
        // One record at a time from reserving its place to queueing it, so
        // records reach the applier in the order their places were taken.
        let _one_at_a_time = self.shared.recording.lock().await;
        record_locked(&self.shared, kind, period, entry, map, id, payload, once).await
    }

    /// The document for a day (ledger) or month (request book), made if new.
    async fn doc_for(&self, kind: DocKind, period: &str) -> Result<DocHandle> {
        doc_for(&self.shared, kind, period).await
    }

    /// Re-apply journal rows missing from their documents (after a crash
    /// between journal commit and document persistence).
    async fn replay_journal(&self) -> Result<()> {
        // Unsynced records, and every record of today's ledger and this
        // month's book, synced or not: the server may have confirmed a
        // record it then lost in a crash, before this kiosk's copy of the
        // document was on disk either. Written again, it syncs again.
        let now = self.now_ms();
        let (today, month) = (
            self.local_date(now),
            self.local(now).format("%Y-%m").to_string(),
        );
        let j = self.shared.journal.clone();
        let pending = blocking(move || {
            let mut all = j.unsynced()?;
            all.extend(j.of_document(DocKind::Ledger, &today)?);
            all.extend(j.of_document(DocKind::RequestBook, &month)?);
            // Every spend of this store, synced or not: what it may still
            // redeem offline is read from its spends document, which must
            // never lack one (few, and money-like).
            if let Some(spender) = j.meta(META_SPENDER)? {
                all.extend(j.of_document(DocKind::Spends, &spender)?);
            }
            let mut seen = std::collections::HashSet::new();
            all.retain(|e| seen.insert(e.record_id.clone()));
            Ok(all)
        })
        .await?;
        let mut replayed = 0usize;
        // One visit per document: a busy day's ledger holds thousands.
        let mut by_doc: HashMap<(DocKind, String), Vec<Entry>> = HashMap::new();
        for e in pending {
            by_doc
                .entry((e.doc_kind, e.period.clone()))
                .or_default()
                .push(e);
        }
        for ((kind, period), entries) in by_doc {
            let handle = self.doc_for(kind, &period).await?;
            replayed += handle
                .with_document_async(move |d| -> Result<usize> {
                    let mut written = 0;
                    for e in entries {
                        if docs::record_count(d, &e.map).is_ok() && has_key(d, &e.map, &e.record_id)
                        {
                            continue;
                        }
                        let payload: serde_json::Value = serde_json::from_str(&e.payload)
                            .map_err(|err| Error::invalid("journal payload", err.to_string()))?;
                        applier::write_record(d, &e.map, &e.record_id, payload)?;
                        written += 1;
                    }
                    Ok(written)
                })
                .await??;
        }
        if replayed > 0 {
            tracing::warn!(
                replayed,
                "re-applied journalled records missing from documents"
            );
        }
        Ok(())
    }

    /// Load today's ledger and this month's request book if they exist,
    /// so they sync as soon as the server is reachable.
    async fn open_current_docs(&self) -> Result<()> {
        let now = self.now_ms();
        let today = self.local_date(now);
        let month = self.local(now).format("%Y-%m").to_string();
        for (kind, period) in [(DocKind::Ledger, today), (DocKind::RequestBook, month)] {
            let j = self.shared.journal.clone();
            let p = period.clone();
            if blocking(move || j.doc(kind, &p)).await?.is_some() {
                self.doc_for(kind, &period).await?;
            }
        }
        Ok(())
    }

    async fn refresh_status(&self) {
        refresh_status(&self.shared).await;
    }

    /// Today's check-ins on this kiosk, oldest first.
    pub async fn checkins_today(&self) -> Result<Vec<(String, CheckIn)>> {
        self.shared.applier.settled().await;
        let today = self.local_date(self.now_ms());
        let key = (DocKind::Ledger, today);
        let Some(handle) = self.shared.docs.lock().await.get(&key).cloned() else {
            return Ok(Vec::new());
        };
        handle
            .with_document_async(|d| {
                let ids = ledger::checkin_ids(d)?.into_iter().collect();
                let mut out = Vec::new();
                for (id, read) in ledger::checkins(d, &ids)? {
                    if let Some(c) = read? {
                        out.push((id, c));
                    }
                }
                Ok(out)
            })
            .await?
    }

    /// The hall calendar's activities, once the calendar has been loaded.
    pub async fn activities(&self) -> Result<Vec<(String, Activity)>> {
        Ok(self
            .read_calendar(calendar::activities)
            .await?
            .unwrap_or_default())
    }

    /// The walk-in services the hall offers now (retired ones left out),
    /// in the kiosk's order, once the calendar has been loaded.
    pub async fn services(&self) -> Result<Vec<(String, WalkInService)>> {
        let all = self
            .read_calendar(calendar::services)
            .await?
            .unwrap_or_default();
        Ok(all.into_iter().filter(|(_, s)| !s.retired).collect())
    }

    /// Read the hall calendar; `None` until it has been loaded.
    async fn read_calendar<T: Send + 'static>(
        &self,
        read: impl FnOnce(&automerge::Automerge) -> Result<T> + Send + 'static,
    ) -> Result<Option<T>> {
        let handle = self
            .shared
            .calendar
            .lock()
            .map_err(|_| Error::Stopped)?
            .clone();
        match handle {
            Some(h) => Ok(Some(h.with_document_async(|d| read(d)).await??)),
            None => Ok(None),
        }
    }

    /// The hall's name from the calendar (or pairing).
    pub async fn hall_name(&self) -> String {
        let handle = self.shared.calendar.lock().ok().and_then(|c| c.clone());
        if let Some(h) = handle
            && let Ok(Ok(Some(name))) = h.with_document_async(|d| calendar::hall_name(d)).await
        {
            return name;
        }
        self.shared.config.hall_name.clone()
    }

    /// A resident's requests made at this kiosk, newest first, with the
    /// server's status and reply as last synced.
    pub async fn my_requests(&self, phone: &PhoneNumber) -> Result<Vec<MyRequest>> {
        let hash = self.pseudonym(phone).await?;
        let j = self.shared.journal.clone();
        let entries = blocking(move || j.by_resident(&hash, requests::REQUESTS)).await?;
        self.shared.applier.settled().await;
        let mut out = Vec::new();
        for e in entries {
            let handle = self.doc_for(DocKind::RequestBook, &e.period).await?;
            let id = e.record_id.clone();
            let (request, reply) = handle
                .with_document_async(
                    move |d| -> Result<(Option<Request>, Option<RequestReply>)> {
                        Ok((requests::request(d, &id)?, requests::reply(d, &id)?))
                    },
                )
                .await??;
            let Some(request) = request else { continue };
            let reference = RecordId::parse(&e.record_id)?.short_reference();
            out.push(MyRequest {
                id: e.record_id,
                reference,
                request,
                status: reply.as_ref().map_or(RequestStatus::Received, |r| r.status),
                reply: reply.and_then(|r| r.reply),
            });
        }
        Ok(out)
    }

    /// The short name this resident gave before at this kiosk, if any.
    /// The reference for the record the resident is about to make under
    /// that name is sealed ahead here (see the `residents` module).
    pub async fn known_name(&self, phone: &PhoneNumber) -> Result<Option<String>> {
        let (residents, phone, now) = (self.shared.residents.clone(), phone.clone(), self.now_ms());
        let j = self.shared.journal.clone();
        blocking(move || {
            let keys = residents.keys(&phone, now)?;
            let name = j
                .latest_name_box(keys.pseudonym())?
                .and_then(|b| keys.unlock_name(&b));
            // Only a head start: should it fail, the tap seals the reference.
            if let Err(e) = residents.prepare(&phone, name.as_deref(), now) {
                tracing::warn!(error = %e, "could not get a resident's record ready ahead");
            }
            Ok(name)
        })
        .await
    }

    /// Seal ahead what the resident's coming record will keep of them, once
    /// they have chosen the name it carries (the name screen is left), so
    /// the tap that commits it pays only for the commit.
    pub async fn prepare_resident(&self, r: &ResidentInput) -> Result<()> {
        let (residents, r, now) = (self.shared.residents.clone(), r.clone(), self.now_ms());
        blocking(move || residents.prepare(&r.phone, r.name.as_deref(), now)).await
    }

    /// Person-times per activity recorded today on this kiosk.
    pub async fn person_times_today(&self) -> Result<Vec<(String, u64)>> {
        let today = self.local_date(self.now_ms());
        let j = self.shared.journal.clone();
        blocking(move || j.person_times_by_activity(&today)).await
    }

    /// A volunteer's open shift, hours this month and points, from the
    /// shifts recorded at this kiosk.
    pub async fn volunteer_summary(&self, phone: &PhoneNumber) -> Result<VolunteerSummary> {
        let hash = self.pseudonym(phone).await?;
        let j = self.shared.journal.clone();
        let entries = blocking(move || j.by_resident(&hash, ledger::SHIFTS)).await?;
        let mut ins: HashMap<String, i64> = HashMap::new();
        let mut outs: HashMap<String, i64> = HashMap::new();
        // The activity each shift served, by its sign-in.
        let mut served_at: HashMap<String, String> = HashMap::new();
        for e in &entries {
            let ev: ShiftEvent = serde_json::from_str(&e.payload)
                .map_err(|err| Error::invalid("journal payload", err.to_string()))?;
            match ev.action()? {
                ShiftAction::SignIn => {
                    if let Some(a) = ev.activity_id {
                        served_at.insert(ev.shift_id.clone(), a);
                    }
                    ins.insert(ev.shift_id, ev.at_ms);
                }
                ShiftAction::SignOut => {
                    outs.insert(ev.shift_id, ev.at_ms);
                }
            }
        }
        let month = self.local(self.now_ms()).format("%Y-%m").to_string();
        let mut summary = VolunteerSummary::default();
        // Points as the hall's rules count them (the server's count, which
        // the screen shows once there is one, uses the same rules).
        // Each at its activity's kind's rate (the calendar this kiosk has;
        // an activity not in it earns the hours rate, as the server counts
        // an activity its calendar lacks).
        let kinds: HashMap<String, String> = if served_at.is_empty() {
            HashMap::new()
        } else {
            self.activities()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|(id, a)| (id, a.kind))
                .collect()
        };
        let served: Vec<crate::points_rules::Served<'_>> = ins
            .iter()
            .filter_map(|(shift, start)| {
                outs.get(shift).map(|end| crate::points_rules::Served {
                    volunteer: "",
                    signed_in_ms: *start,
                    signed_out_ms: *end,
                    kind: served_at
                        .get(shift)
                        .and_then(|a| kinds.get(a))
                        .map(String::as_str),
                })
            })
            .collect();
        let rules = market::rules_here(&self.shared)?;
        let earned: u64 = rules.credit(self.shared.tz, &served).iter().sum();
        summary.points = u32::try_from(earned).unwrap_or(u32::MAX);
        for (shift, start) in &ins {
            match outs.get(shift) {
                Some(end) => {
                    if self.local(*start).format("%Y-%m").to_string() == month {
                        summary.hours_this_month +=
                            (end - start).clamp(0, 12 * 3_600_000) as f64 / 3_600_000.0;
                    }
                }
                None => {
                    if summary.open_shift.as_ref().is_none_or(|(_, t)| start > t) {
                        summary.open_shift = Some((shift.clone(), *start));
                    }
                }
            }
        }
        Ok(summary)
    }

    /// A kiosk setting (language default, idle timeout, staff PIN hash).
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let j = self.shared.journal.clone();
        let k = format!("setting.{key}");
        blocking(move || j.meta(&k)).await
    }

    /// Change a kiosk setting.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let j = self.shared.journal.clone();
        let (k, v) = (format!("setting.{key}"), value.to_string());
        blocking(move || j.set_meta(&[(&k, &v)])).await
    }

    /// The samod document id of a day's ledger on this kiosk, if made.
    pub async fn ledger_id(&self, date: &str) -> Result<Option<String>> {
        let j = self.shared.journal.clone();
        let d = date.to_string();
        Ok(blocking(move || j.doc(DocKind::Ledger, &d))
            .await?
            .map(|r| r.doc_id))
    }

    /// The heads of every kiosk-owned document this node has open (its
    /// ledgers and request books), as `(document id, sorted heads)` —
    /// for checking that the server holds exactly what the kiosk holds.
    pub async fn open_document_heads(&self) -> Vec<(String, Vec<String>)> {
        self.shared.applier.settled().await;
        let docs = self.shared.docs.lock().await;
        let mut out: Vec<(String, Vec<String>)> = docs
            .values()
            .map(|h| {
                let mut heads: Vec<String> = h
                    .with_document(|d| d.get_heads())
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                heads.sort();
                (h.document_id().to_string(), heads)
            })
            .collect();
        out.sort();
        out
    }

    /// Bytes the store keeps for a document.
    pub async fn document_bytes(&self, doc_id: &str) -> Result<u64> {
        let s = self.shared.storage.clone();
        let id = doc_id.to_string();
        blocking(move || s.document_bytes(&id)).await
    }

    /// A document as Automerge saves it (for benchmarks and diagnostics).
    pub async fn document_save(&self, doc_id: &str) -> Result<Vec<u8>> {
        self.shared.applier.settled().await;
        let id: samod::DocumentId = doc_id.parse().map_err(|_| {
            crate::Error::invalid("document", format!("{doc_id:?} is not a document id"))
        })?;
        let handle = self
            .shared
            .repo
            .find(id)
            .await
            .map_err(|_| crate::Error::invalid("document", "the store is stopping"))?
            .ok_or_else(|| crate::Error::invalid("document", format!("{doc_id} is not here")))?;
        Ok(handle.with_document(|d| d.save()))
    }

    /// Bytes of sync messages this node has sent to the server.
    pub fn bytes_sent(&self) -> u64 {
        self.shared
            .bytes_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wait until the server has confirmed every record (or `timeout`).
    pub async fn wait_synced(&self, timeout: Duration) -> Result<SyncStatus> {
        let mut rx = self.status();
        let done = tokio::time::timeout(timeout, async {
            loop {
                if rx.borrow_and_update().waiting == 0 {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        let status = rx.borrow().clone();
        match done {
            Ok(()) => Ok(status),
            Err(_) => Err(Error::Http {
                url: self.shared.server_url.to_string(),
                reason: format!(
                    "{} records still waiting to sync after {timeout:?}",
                    status.waiting
                ),
            }),
        }
    }

    /// Stop syncing and close the store cleanly.
    pub async fn shutdown(self) {
        // Records committed but not yet in their documents go in first (a
        // kill instead leaves them to the journal at the next start).
        if tokio::time::timeout(Duration::from_secs(10), self.shared.applier.settled())
            .await
            .is_err()
        {
            tracing::warn!(
                "records still being written into documents at shutdown: the journal keeps them"
            );
        }
        self.go_offline();
        if let Ok(mut t) = self.tasks.lock() {
            for task in t.drain(..) {
                task.abort();
            }
        }
        self.shared.storage.close();
        if tokio::time::timeout(Duration::from_secs(10), self.shared.repo.stop())
            .await
            .is_err()
        {
            tracing::error!("the document repository did not stop within 10 s");
        }
        // Close both files now, not when the last task holding them drops:
        // SQLite's closing checkpoint writes into the file, and whoever
        // opens or copies it after this returns must find it finished.
        let (journal, storage) = (self.shared.journal.clone(), self.shared.storage.clone());
        let closed = blocking(move || {
            let journal = journal.close();
            storage.close_connection().and(journal)
        })
        .await;
        if let Err(e) = closed {
            tracing::error!(error = %e, "closing the kiosk's files");
        }
    }
}

/// The document for a day (ledger) or month (request book), made if new.
async fn doc_for(shared: &Arc<Shared>, kind: DocKind, period: &str) -> Result<DocHandle> {
    let mut docs = shared.docs.lock().await;
    if let Some(h) = docs.get(&(kind, period.to_string())) {
        return Ok(h.clone());
    }
    let j = shared.journal.clone();
    let p = period.to_string();
    let existing = blocking(move || j.doc(kind, &p)).await?;
    let handle = match existing {
        Some(row) => {
            let id = DocumentId::from_str(&row.doc_id)
                .map_err(|e| Error::invalid("stored document id", e.to_string()))?;
            match shared.repo.find(id).await? {
                Some(handle) => handle,
                None => remake_from_journal(shared, kind, period).await?,
            }
        }
        None => create_doc(shared, kind, period).await?,
    };
    docs.insert((kind, period.to_string()), handle.clone());
    Ok(handle)
}

/// How long a new document's id waits for its first save before it is
/// listed anyway (writes failing: a full disk); should the kiosk stop in
/// that time, [`remake_from_journal`] makes the document again at start.
const FIRST_SAVE_WAIT: Duration = Duration::from_secs(10);

/// Make this kiosk's document for a day or month, and list it once its
/// first save is on disk: a document listed before then and lost in a
/// crash would leave the kiosk a day it cannot open.
async fn create_doc(shared: &Arc<Shared>, kind: DocKind, period: &str) -> Result<DocHandle> {
    let cfg = &shared.config;
    let doc = match kind {
        DocKind::Ledger => ledger::new_ledger(&cfg.hall_id, &cfg.kiosk_id, period)?,
        DocKind::RequestBook => requests::new_request_book(&cfg.hall_id, &cfg.kiosk_id, period)?,
        // A store's spends: its "period" is the spender (this store).
        DocKind::Spends => points::new_spends(&cfg.hall_id, &cfg.kiosk_id, period)?,
        other => {
            return Err(Error::invalid(
                "document",
                format!("kiosks do not create {}", other.name()),
            ));
        }
    };
    let handle = shared.repo.create(doc).await?;
    let id = handle.document_id().to_string();
    if !shared
        .storage
        .wait_for_document(&id, FIRST_SAVE_WAIT)
        .await?
    {
        tracing::warn!(
            kind = kind.name(),
            %period,
            "a new document is not on disk yet (the store's writes are failing); listed anyway, and made again from the journal at the next start if it never gets there"
        );
    }
    let j = shared.journal.clone();
    let p = period.to_string();
    blocking(move || j.add_doc(kind, &p, &id)).await?;
    Ok(handle)
}

/// A day or month listed in this kiosk's store whose document has no data
/// here (nor from the server, when it is reachable): the kiosk stopped
/// between making it and its first save reaching the disk (a power cut
/// while the document store's last commits were not yet synced, or a kiosk
/// from before the wait in [`create_doc`]). Its records are all in the
/// journal, so the document is made again from them, under a new id, and
/// they sync again; their ids keep the server from counting any twice,
/// even when it had the lost document too.
async fn remake_from_journal(
    shared: &Arc<Shared>,
    kind: DocKind,
    period: &str,
) -> Result<DocHandle> {
    tracing::warn!(
        kind = kind.name(),
        %period,
        "a document listed in this kiosk's store has no data; made again from the journal"
    );
    let j = shared.journal.clone();
    let p = period.to_string();
    blocking(move || j.forget_doc(kind, &p)).await?;
    let handle = create_doc(shared, kind, period).await?;
    let j = shared.journal.clone();
    let p = period.to_string();
    let entries = blocking(move || j.of_document(kind, &p)).await?;
    write_entries(&handle, entries).await?;
    Ok(handle)
}

/// Write journalled records into a document, each as its own change
/// (those it has already are left as they are).
async fn write_entries(handle: &DocHandle, entries: Vec<Entry>) -> Result<()> {
    handle
        .with_document_async(move |d| -> Result<()> {
            for e in entries {
                let payload: serde_json::Value = serde_json::from_str(&e.payload)
                    .map_err(|err| Error::invalid("journal payload", err.to_string()))?;
                applier::write_record(d, &e.map, &e.record_id, payload)?;
            }
            Ok(())
        })
        .await?
}

/// Write every journalled record of a day or month into its document
/// (made if new), each as its own change.
async fn rewrite_from_journal(shared: &Arc<Shared>, kind: DocKind, period: &str) -> Result<()> {
    let handle = doc_for(shared, kind, period).await?;
    let j = shared.journal.clone();
    let p = period.to_string();
    let entries = blocking(move || j.of_document(kind, &p)).await?;
    write_entries(&handle, entries).await
}

fn has_key(doc: &Automerge, map: &str, key: &str) -> bool {
    ledger::contains(doc, map, key).unwrap_or(false)
}

async fn refresh_status(shared: &Arc<Shared>) {
    let waiting = match shared.journal.kept_unsynced() {
        Some(n) => Ok(n),
        None => {
            let j = shared.journal.clone();
            blocking(move || j.unsynced_count()).await
        }
    };
    let online = shared
        .dialer
        .lock()
        .ok()
        .and_then(|d| d.as_ref().map(DialerHandle::is_connected))
        .unwrap_or(false);
    let dial_error = shared.dial_error.lock().ok().and_then(|s| {
        s.as_ref()
            .and_then(|slot| slot.lock().ok().and_then(|e| e.clone()))
    });
    let store_error = shared.storage.health().failing;
    let calendar_ready = shared.calendar.lock().map(|c| c.is_some()).unwrap_or(false);
    shared.status.send_modify(|s| {
        match &waiting {
            Ok(n) => s.waiting = *n,
            Err(e) => s.store_error = Some(e.to_string()),
        }
        if waiting.is_ok() {
            s.store_error = store_error.clone();
        }
        s.online = online;
        s.last_error = if online { None } else { dial_error.clone() };
        s.needs_repair = matches!(&dial_error, Some(e) if e.contains("re-pair") || e.contains("update the kiosk"));
        s.calendar_ready = calendar_ready;
    });
}

/// [`KioskNode::record`]'s work, the recording lock held by the caller.
#[allow(clippy::too_many_arguments)]
async fn record_locked(
    shared: &Arc<Shared>,
    kind: DocKind,
    period: &str,
    entry: Entry,
    map: &str,
    id: RecordId,
    payload: serde_json::Value,
    once: bool,
) -> Result<bool> {
    // Under the same lock, so a document the server rebuilt is never
    // written to once this kiosk has moved to its replacement.
    let handle = doc_for(shared, kind, period).await?;
    let ticket = shared.applier.reserve();
    let j = shared.journal.clone();
    let appended = waited_on_store(move || {
        if once {
            j.append_checkin_once(&entry)
        } else {
            j.append(&entry).map(|()| true)
        }
    })
    .await?;
    if !appended {
        // The ticket, dropped unused, lets the applier's queue move on.
        return Ok(false);
    }
    // On disk now. The applier writes it into its document; should that
    // fail, the journal writes it again at the next start.
    ticket.submit(Pending {
        handle,
        map: map.to_string(),
        key: id.to_string(),
        payload,
    })?;
    refresh_status(shared).await;
    Ok(true)
}

/// Background work: confirm what the server has, list new documents in
/// the hall directory, load calendar and directory once reachable.
async fn sync_watcher(shared: Arc<Shared>) {
    loop {
        if let Err(e) = sync_round(&shared).await {
            tracing::warn!(error = %e, "sync round failed");
        }
        refresh_status(&shared).await;
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

async fn sync_round(shared: &Arc<Shared>) -> Result<()> {
    let conn = shared.dialer.lock().ok().and_then(|d| {
        d.as_ref()
            .filter(|d| d.is_connected())
            .and_then(DialerHandle::connection_id)
    });
    // The hall's calendar and directory: from this kiosk's own store when
    // it has them (a kiosk restarted with no network still shows the
    // day's activities), else from the server once connected.
    for (url, slot) in [
        (&shared.config.calendar_url, &shared.calendar),
        (&shared.config.directory_url, &shared.directory),
    ] {
        load_hall_doc(shared, url, slot, conn.is_some()).await;
    }
    load_grants(shared, conn.is_some()).await;
    // An ask left standing when the kiosk lost power mid-redemption.
    if !shared
        .asks_checked
        .load(std::sync::atomic::Ordering::Acquire)
    {
        match market::withdraw_standing_asks(shared).await {
            Ok(Some(_)) => shared
                .asks_checked
                .store(true, std::sync::atomic::Ordering::Release),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "withdrawing earlier asks failed"),
        }
    }
    let Some(conn) = conn else { return Ok(()) };
    // This store's spends document, made once: listed in the directory,
    // it tells the server there is a store to grant points to.
    let spender = spender_of(shared).await?;
    doc_for(shared, DocKind::Spends, &spender).await?;
    // A store restored from an older copy learns it here, from the
    // server's copy of its own spends, and carries on as a new store.
    if let Err(e) = market::carry_on_if_restored(shared).await {
        tracing::warn!(error = %e, "checking this store's spends failed");
    }
    // What it holds above the shares the server last published goes back
    // to the hall, for its other kiosks.
    if let Err(e) = market::hand_back_excess(shared).await {
        tracing::warn!(error = %e, "handing back points and stock failed");
    }
    register_docs(shared).await?;
    adopt_rebuilt_docs(shared).await?;
    upgrade::finish(shared).await?;

    // Which documents have unconfirmed records?
    let j = shared.journal.clone();
    let pending = blocking(move || j.unsynced()).await?;
    let mut groups: Vec<(DocKind, String)> = pending
        .iter()
        .map(|e| (e.doc_kind, e.period.clone()))
        .collect();
    groups.sort_by(|a, b| (a.0.name(), &a.1).cmp(&(b.0.name(), &b.1)));
    groups.dedup();
    let mut all_confirmed = true;
    for (kind, period) in groups {
        let handle = shared
            .docs
            .lock()
            .await
            .get(&(kind, period.clone()))
            .cloned();
        let Some(handle) = handle else {
            all_confirmed = false;
            continue;
        };
        let j = shared.journal.clone();
        let p = period.clone();
        // Once every id read here is in the document (the applier has
        // written what was committed before), the server having our
        // current heads means it has all of them.
        let ids = blocking(move || j.unsynced_ids(kind, &p)).await?;
        shared.applier.settled().await;
        let confirmed =
            tokio::time::timeout(Duration::from_secs(3), handle.they_have_our_changes(conn))
                .await
                .is_ok();
        if confirmed {
            let now = (shared.clock)();
            let j = shared.journal.clone();
            let n = ids.len();
            blocking(move || j.mark_synced(&ids, now)).await?;
            tracing::debug!(kind = kind.name(), %period, records = n, "server confirmed records");
        } else {
            all_confirmed = false;
        }
    }
    if all_confirmed {
        let now = (shared.clock)();
        shared.status.send_modify(|s| s.last_sync_ms = Some(now));
    }
    Ok(())
}

/// Load the hall's grants document, once the directory names it.
async fn load_grants(shared: &Arc<Shared>, online: bool) {
    if shared.grants.lock().map(|g| g.is_some()).unwrap_or(true) {
        return;
    }
    let directory = shared.directory.lock().ok().and_then(|d| d.clone());
    let Some(directory) = directory else { return };
    let url = directory
        .with_document_async(|d| {
            directory::entries(d).map(|entries| {
                entries
                    .into_iter()
                    .find(|(key, _)| key == points::GRANTS_ENTRY)
                    .map(|(_, url)| url)
            })
        })
        .await;
    if let Ok(Ok(Some(url))) = url {
        load_hall_doc(shared, &url, &shared.grants, online).await;
    }
}

/// Load a hall document into `slot` unless it is there: offline, only
/// when this kiosk's store has it (finding one it lacks would wait for a
/// server that is not there).
async fn load_hall_doc(
    shared: &Arc<Shared>,
    url: &str,
    slot: &Mutex<Option<DocHandle>>,
    online: bool,
) {
    if slot.lock().map(|s| s.is_some()).unwrap_or(true) {
        return;
    }
    let Ok(url) = samod::AutomergeUrl::from_str(url) else {
        tracing::error!(%url, "hall document URL in the kiosk configuration is invalid");
        return;
    };
    if !online {
        let (storage, id) = (shared.storage.clone(), url.document_id().to_string());
        if !blocking(move || storage.has_document(&id))
            .await
            .unwrap_or(false)
        {
            return;
        }
    }
    let found = tokio::time::timeout(
        Duration::from_secs(5),
        shared.repo.find(url.document_id().clone()),
    )
    .await;
    if let Ok(Ok(Some(handle))) = found
        && let Ok(mut s) = slot.lock()
    {
        *s = Some(handle);
    }
}

async fn register_docs(shared: &Arc<Shared>) -> Result<()> {
    let directory = shared.directory.lock().map_err(|_| Error::Stopped)?.clone();
    let Some(directory) = directory else {
        return Ok(());
    };
    let j = shared.journal.clone();
    let rows = blocking(move || j.unregistered_docs()).await?;
    for row in rows {
        let id = DocumentId::from_str(&row.doc_id)
            .map_err(|e| Error::invalid("stored document id", e.to_string()))?;
        let url = samod::AutomergeUrl::from(&id).to_string();
        let key = directory::entry_key(row.kind, &shared.config.kiosk_id, &row.period);
        // A store's spends document is found by the server through its
        // entry alone: one made again from the journal takes the old one's
        // place (it holds every spend the old one did).
        let kind = row.kind;
        directory
            .with_document_async(move |d| {
                if kind == DocKind::Spends {
                    directory::point(d, &key, &url)
                } else {
                    directory::register(d, &key, &url)
                }
            })
            .await??;
        let j = shared.journal.clone();
        blocking(move || j.mark_registered(row.kind, &row.period)).await?;
    }
    Ok(())
}

/// Act on documents the server rebuilt without an erased resident (see
/// `docs::erase`): carry on in the new document for each of this kiosk's
/// own, and delete every retired document from this kiosk's store, so
/// that nothing here still holds what was erased.
async fn adopt_rebuilt_docs(shared: &Arc<Shared>) -> Result<()> {
    let directory = shared.directory.lock().map_err(|_| Error::Stopped)?.clone();
    let Some(directory) = directory else {
        return Ok(());
    };
    let (heads, retired) = directory
        .with_document_async(|d| -> Result<_> { Ok((d.get_heads(), directory::retired(d)?)) })
        .await??;
    let seen = shared
        .retired_seen
        .lock()
        .map(|s| *s == heads)
        .unwrap_or(false);
    if seen || retired.is_empty() {
        return Ok(());
    }
    let storage = shared.storage.clone();
    let stored: std::collections::HashSet<String> = blocking(move || storage.document_ids())
        .await?
        .into_iter()
        .collect();
    let mut done = true;
    let replaced_by: HashMap<String, String> = retired.iter().cloned().collect();
    // The hall's grants first: the server rebuilds them together with the
    // stores' spends (an erased volunteer's points renamed in both), and a
    // store reading rebuilt spends against the old grants would find the
    // erased volunteer's points unspent.
    let grants_here = shared
        .grants
        .lock()
        .map_err(|_| Error::Stopped)?
        .as_ref()
        .map(|g| g.document_id().to_string());
    let grants_current = match grants_here.as_ref().and_then(|g| replaced_by.get(g)) {
        Some(new_url) => {
            adopt_rebuilt_grants(shared, &latest_replacement(&replaced_by, new_url)).await?
        }
        None => true,
    };
    for (old, new_url) in &retired {
        let j = shared.journal.clone();
        let o = old.clone();
        let own = blocking(move || j.doc_by_id(&o)).await?;
        let adopted = match own {
            Some(row) if row.kind == DocKind::Spends && !grants_current => false,
            Some(row) => {
                let latest = latest_replacement(&replaced_by, new_url);
                adopt_rebuilt(shared, row.kind, &row.period, &latest).await?
            }
            // The old grants stay until the new ones are here.
            None => grants_current || grants_here.as_ref() != Some(old),
        };
        if !adopted {
            done = false;
            continue;
        }
        if stored.contains(old) {
            let storage = shared.storage.clone();
            let old = old.clone();
            blocking(move || {
                storage.delete_document(&old)?;
                storage.checkpoint()
            })
            .await?;
            tracing::info!("a document rebuilt by the server was deleted from this kiosk's store");
        }
    }
    if done && let Ok(mut s) = shared.retired_seen.lock() {
        *s = heads;
    }
    Ok(())
}

/// The last of a chain of replacements: a document rebuilt twice while a
/// kiosk was away (a second erasure) is retired in favour of a third, and
/// only that one is still shared.
fn latest_replacement(replaced_by: &HashMap<String, String>, url: &str) -> String {
    let mut url = url.to_string();
    // Each step follows one retirement; there are no more steps than those.
    for _ in 0..replaced_by.len() {
        let next = samod::AutomergeUrl::from_str(&url)
            .ok()
            .and_then(|u| replaced_by.get(&u.document_id().to_string()).cloned());
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    url
}

/// Read the hall's grants from the document the server rebuilt them in
/// (without an erased volunteer, `docs::erase_points`). False while it
/// cannot be had yet.
async fn adopt_rebuilt_grants(shared: &Arc<Shared>, new_url: &str) -> Result<bool> {
    let new_id = samod::AutomergeUrl::from_str(new_url)
        .map_err(|e| Error::invalid("rebuilt grants URL", e.to_string()))?
        .document_id()
        .clone();
    let found = tokio::time::timeout(Duration::from_secs(10), shared.repo.find(new_id)).await;
    let Ok(Ok(Some(handle))) = found else {
        tracing::debug!("the hall's rebuilt grants are not here yet");
        return Ok(false);
    };
    // No redemption is checked against the old grants from here on.
    let _one_at_a_time = shared.recording.lock().await;
    *shared.grants.lock().map_err(|_| Error::Stopped)? = Some(handle);
    if let Ok(mut seen) = shared.grants_seen.lock() {
        seen.clear();
    }
    tracing::info!("reading the hall's grants from the document the server rebuilt");
    Ok(true)
}

/// Switch one of this kiosk's days (or months) to the document the server
/// rebuilt for it. False while the new document cannot be had yet.
async fn adopt_rebuilt(
    shared: &Arc<Shared>,
    kind: DocKind,
    period: &str,
    new_url: &str,
) -> Result<bool> {
    let new_id = samod::AutomergeUrl::from_str(new_url)
        .map_err(|e| Error::invalid("rebuilt document URL", e.to_string()))?
        .document_id()
        .clone();
    // Fetched before taps are held up: it may take a while to arrive.
    let found =
        tokio::time::timeout(Duration::from_secs(10), shared.repo.find(new_id.clone())).await;
    let Ok(Ok(Some(handle))) = found else {
        tracing::debug!(kind = kind.name(), %period, found = ?found.map(|f| f.map(|h| h.is_some())), "a document the server rebuilt is not here yet");
        return Ok(false);
    };
    // No record goes into the old document from here on.
    let _one_at_a_time = shared.recording.lock().await;
    shared.applier.settled().await;
    let j = shared.journal.clone();
    let p = period.to_string();
    let entries = blocking(move || j.of_document(kind, &p)).await?;
    // A store's spends: the points accounts the hall's grants (read from
    // their rebuilt document first) still know; see below.
    let known = match kind {
        DocKind::Spends => {
            let grants = shared.grants.lock().map_err(|_| Error::Stopped)?.clone();
            match grants {
                Some(g) => Some(g.with_document(|d| erase_points::known_accounts(d))?),
                None => None,
            }
        }
        _ => None,
    };
    let (rewrites, missing) = handle
        .with_document_async(move |d| -> Result<_> {
            let mut rewrites = Vec::new();
            let mut missing = Vec::new();
            for e in entries {
                match applier::read_record(d, &e.map, &e.record_id)? {
                    Some((payload, pseudonym)) => rewrites.push((e.record_id, payload, pseudonym)),
                    None => {
                        // Recorded here after the server's copy was taken.
                        let mut payload: serde_json::Value = serde_json::from_str(&e.payload)
                            .map_err(|err| Error::invalid("journal payload", err.to_string()))?;
                        // A spend recorded offline for a volunteer the
                        // server erased meanwhile goes where the rest of
                        // their points went.
                        if let Some(known) = &known {
                            let (renamed, any) =
                                erase_points::forget_unknown(&e.map, payload, known)?;
                            payload = renamed;
                            if any {
                                rewrites.push((e.record_id.clone(), payload.to_string(), None));
                            }
                        }
                        applier::write_record(d, &e.map, &e.record_id, payload)?;
                        missing.push(e.record_id);
                    }
                }
            }
            Ok((rewrites, missing))
        })
        .await??;
    let j = shared.journal.clone();
    let (p, id) = (period.to_string(), new_id.to_string());
    let carried = missing.len();
    blocking(move || {
        j.adopt_rebuilt(kind, &p, &id, &rewrites, &missing)?;
        j.checkpoint()
    })
    .await?;
    shared
        .docs
        .lock()
        .await
        .insert((kind, period.to_string()), handle);
    shared.residents.forget();
    tracing::info!(kind = kind.name(), %period, carried, "carrying on in a document the server rebuilt");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_rebuilt_twice_is_followed_to_its_last_replacement() {
        let ids: Vec<DocumentId> = (0..3).map(|_| DocumentId::new(&mut rand::rng())).collect();
        let url = |i: usize| samod::AutomergeUrl::from(&ids[i]).to_string();
        let chain: HashMap<String, String> =
            [(ids[0].to_string(), url(1)), (ids[1].to_string(), url(2))]
                .into_iter()
                .collect();
        assert_eq!(latest_replacement(&chain, &url(1)), url(2));
        assert_eq!(latest_replacement(&chain, &url(2)), url(2));
        assert_eq!(latest_replacement(&HashMap::new(), &url(1)), url(1));
    }
}
