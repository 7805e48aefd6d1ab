//! The worker thread: it owns a tokio runtime and the [`KioskNode`], and
//! the UI talks to it only through channels, so the UI thread never waits
//! on SQLite or the network. Every event it sends wakes the UI.

use std::{
    sync::{Arc, mpsc},
    thread::JoinHandle,
    time::Duration,
};

use linli_core::{
    KioskNode, KioskNodeOptions, SyncStatus,
    ids::RecordId,
    model::{Activity, RequestCategory, ShiftAction, WalkInService},
    node::{
        CheckInOutcome, MyRequest, NewCheckIn, NewWalkIn, Redemption, ResidentInput, Shop,
        VolunteerSummary,
    },
    phone::PhoneNumber,
    tls::Fingerprint,
};
use url::Url;

/// How the worker gets its node.
pub enum Start {
    /// Open an already paired kiosk.
    Open(KioskNodeOptions),
    /// Pair with a server first.
    Pair {
        /// Node options.
        options: KioskNodeOptions,
        /// Server address.
        server: Url,
        /// Pairing token.
        token: String,
        /// The fingerprint of the certificate to pin, from the console's
        /// pairing link (see [`KioskNode::pair_pinning`]); ignored when
        /// the options pin a CA already (`--ca` wins).
        ca_fingerprint: Option<Fingerprint>,
    },
}

/// What the UI asks of the worker.
#[derive(Debug)]
pub enum Command {
    /// Look up the short name a number gave before.
    LookUp(PhoneNumber),
    /// Get ready the resident's part of a coming record (the name is
    /// chosen; the confirm screen shows).
    Prepare(ResidentInput),
    /// A named check-in.
    CheckIn {
        /// Activity.
        activity_id: String,
        /// The resident.
        resident: ResidentInput,
        /// Companions.
        companions: u32,
    },
    /// A walk-in visit for one of the hall's services.
    WalkIn {
        /// The service.
        service: String,
        /// The resident, or `None` when they leave no number.
        resident: Option<ResidentInput>,
        /// Companions.
        companions: u32,
    },
    /// One more person for a headcount-only activity.
    Headcount {
        /// Activity.
        activity_id: String,
    },
    /// A rating.
    Rate {
        /// Activity.
        activity_id: String,
        /// 1–5.
        score: u32,
        /// Reason chip codes, joined with ','.
        reason: Option<String>,
    },
    /// A request or suggestion.
    Request {
        /// Category.
        category: RequestCategory,
        /// Text from preset phrases.
        text: String,
        /// The resident's number, for a callback and "My requests".
        resident: Option<ResidentInput>,
    },
    /// A resident's requests.
    MyRequests(PhoneNumber),
    /// A volunteer's standing.
    Volunteer(PhoneNumber),
    /// Volunteer signs in (`shift` None) or out.
    Shift {
        /// The volunteer.
        volunteer: ResidentInput,
        /// Sign in or out.
        action: ShiftAction,
        /// The shift ended, for a sign-out.
        shift: Option<String>,
        /// The activity a sign-in serves, if one.
        activity: Option<String>,
    },
    /// Redeem an item of the hall's 爱心超市 (staff confirmed the
    /// hand-over).
    Redeem {
        /// The volunteer.
        phone: PhoneNumber,
        /// The item.
        item: String,
        /// The points the volunteer agreed to.
        points: u64,
        /// Lend what this kiosk lacks of them (赊兑; staff confirmed it,
        /// the hall's rules allowing).
        lend: bool,
    },
    /// Today's person-times per activity (staff screen).
    TodayStats,
    /// The kiosk went back to its start screen: forget the keys of the
    /// residents it served.
    ForgetResidents,
    /// Change a kiosk setting.
    SetSetting(String, String),
    /// Stop the node and end the thread.
    Shutdown,
}

/// Why a command failed, so the screen can say what to do about it: a
/// full store needs staff, input that does not fit needs the resident,
/// anything else may pass when tried again. What was stored before is
/// never lost in any of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The kiosk's store is full (disk full or its size cap).
    StoreFull(String),
    /// What was entered does not fit the record.
    BadInput(String),
    /// Anything else (the store failed otherwise, the kiosk is stopping).
    Other(String),
}

impl From<linli_core::Error> for Failure {
    fn from(e: linli_core::Error) -> Self {
        match e {
            linli_core::Error::StoreFull(_) => Failure::StoreFull(e.to_string()),
            linli_core::Error::Invalid { .. } => Failure::BadInput(e.to_string()),
            other => Failure::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::StoreFull(s) | Failure::BadInput(s) | Failure::Other(s) => f.write_str(s),
        }
    }
}

/// What the worker tells the UI.
#[derive(Debug, Clone)]
pub enum Event {
    /// The node is open.
    Ready {
        /// Hall name.
        hall_name: String,
        /// Hall id.
        hall_id: String,
        /// The hall's time zone.
        tz: String,
        /// This kiosk's id.
        kiosk_id: String,
        /// The server's address.
        server: String,
    },
    /// Stored settings, at start.
    Settings(Vec<(String, String)>),
    /// Sync status changed.
    Status(SyncStatus),
    /// The hall calendar (all activities, by start).
    Activities(Vec<(String, Activity)>),
    /// The walk-in services the hall offers (in the kiosk's order).
    Services(Vec<(String, WalkInService)>),
    /// Person-times per activity today on this kiosk.
    TodayStats(Vec<(String, u64)>),
    /// A name lookup.
    Known(PhoneNumber, Option<String>),
    /// Result of a check-in.
    CheckedIn(Result<CheckInOutcome, Failure>),
    /// Result of a headcount tap.
    Counted(Result<(), Failure>),
    /// Result of a rating.
    Rated(Result<(), Failure>),
    /// Result of a request: its id.
    RequestSaved(Result<RecordId, Failure>),
    /// A resident's requests.
    MyRequests(Result<Vec<MyRequest>, Failure>),
    /// A volunteer's standing, and what this kiosk offers them.
    Volunteer(Result<(VolunteerSummary, Shop), Failure>),
    /// Result of a redemption: the item, its points and what came of it.
    Redeemed(Result<(String, u64, Redemption), Failure>),
    /// Result of a sign-in or sign-out.
    ShiftSaved(Result<ShiftAction, Failure>),
    /// The node could not start.
    Fatal(String),
}

/// How long a redemption may wait for points or an item the hall's other
/// kiosks hold to be moved here (the server shares anew every few
/// seconds, then they hand back, then it grants).
pub const REDEEM_PATIENCE: std::time::Duration = std::time::Duration::from_secs(25);

/// The settings the worker reports at start.
pub const SETTINGS: [&str; 4] = ["lang", "idle_secs", "staff_pin", "speech"];

/// Handle to the worker thread.
pub struct Worker {
    tx: tokio::sync::mpsc::UnboundedSender<Command>,
    rx: mpsc::Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Start the worker; `wake` is called after every event (e.g. the egui
    /// context's `request_repaint`).
    pub fn spawn(start: Start, wake: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<Self> {
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("linli-worker".into())
            .spawn(move || {
                let send = move |e: Event| {
                    let _ = ev_tx.send(e);
                    wake();
                };
                match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(run(start, cmd_rx, send)),
                    Err(e) => send(Event::Fatal(format!("starting the worker: {e}"))),
                }
            })?;
        Ok(Self {
            tx: cmd_tx,
            rx: ev_rx,
            thread: Some(thread),
        })
    }

    /// Send a command (never blocks).
    pub fn send(&self, cmd: Command) {
        let _ = self.tx.send(cmd);
    }

    /// Events that arrived since the last call (never blocks).
    pub fn poll(&self) -> Vec<Event> {
        self.rx.try_iter().collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn run(
    start: Start,
    mut commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
    send: impl Fn(Event) + Send + Sync + Clone + 'static,
) {
    let node = match start {
        Start::Open(options) => KioskNode::open(options).await,
        Start::Pair {
            options,
            server,
            token,
            ca_fingerprint,
        } => match ca_fingerprint {
            Some(fingerprint) if !options.trust.is_pinned() => {
                KioskNode::pair_pinning(options, &server, &token, &fingerprint).await
            }
            _ => KioskNode::pair(options, &server, &token).await,
        },
    };
    let node = match node {
        Ok(n) => n,
        Err(e) => {
            send(Event::Fatal(e.to_string()));
            return;
        }
    };
    let mut settings = Vec::new();
    for key in SETTINGS {
        if let Ok(Some(v)) = node.setting(key).await {
            settings.push((key.to_string(), v));
        }
    }
    send(Event::Settings(settings));
    let ready = |node: &KioskNode, hall_name: String| Event::Ready {
        hall_name,
        hall_id: node.config().hall_id.clone(),
        tz: node.config().tz.clone(),
        kiosk_id: node.config().kiosk_id.clone(),
        server: node.server_url().to_string(),
    };
    send(ready(&node, node.hall_name().await));
    let mut status = node.status();
    send(Event::Status(status.borrow().clone()));
    let mut last_activities: Option<Vec<(String, Activity)>> = None;
    let mut last_services: Option<Vec<(String, WalkInService)>> = None;
    let mut last_stats: Option<Vec<(String, u64)>> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None | Some(Command::Shutdown) => break,
                Some(cmd) => {
                    handle(&node, cmd, &send).await;
                    refresh_stats(&node, &mut last_stats, &send).await;
                }
            },
            changed = status.changed() => {
                if changed.is_err() { break; }
                send(Event::Status(status.borrow_and_update().clone()));
            }
            _ = tick.tick() => {
                if let Ok(acts) = node.activities().await
                    && last_activities.as_ref() != Some(&acts)
                {
                    send(Event::Activities(acts.clone()));
                    send(ready(&node, node.hall_name().await));
                    last_activities = Some(acts);
                }
                if let Ok(services) = node.services().await
                    && last_services.as_ref() != Some(&services)
                {
                    send(Event::Services(services.clone()));
                    last_services = Some(services);
                }
                refresh_stats(&node, &mut last_stats, &send).await;
            }
        }
    }
    node.shutdown().await;
}

async fn refresh_stats(
    node: &KioskNode,
    last: &mut Option<Vec<(String, u64)>>,
    send: &impl Fn(Event),
) {
    if let Ok(stats) = node.person_times_today().await
        && last.as_ref() != Some(&stats)
    {
        send(Event::TodayStats(stats.clone()));
        *last = Some(stats);
    }
}

async fn handle(node: &KioskNode, cmd: Command, send: &impl Fn(Event)) {
    let err = Failure::from;
    match cmd {
        Command::LookUp(phone) => {
            let name = node.known_name(&phone).await.ok().flatten();
            send(Event::Known(phone, name));
        }
        Command::Prepare(resident) => {
            // Nothing is lost if this fails: the tap seals it then.
            if let Err(e) = node.prepare_resident(&resident).await {
                tracing::warn!(error = %e, "could not get a resident's record ready ahead");
            }
        }
        Command::CheckIn {
            activity_id,
            resident,
            companions,
        } => {
            let r = node
                .record_checkin(NewCheckIn {
                    activity_id,
                    resident: Some(resident),
                    headcount: 1,
                    companions,
                })
                .await
                .map_err(err);
            send(Event::CheckedIn(r));
        }
        Command::WalkIn {
            service,
            resident,
            companions,
        } => {
            let r = node
                .record_walk_in(NewWalkIn {
                    service,
                    resident,
                    companions,
                })
                .await
                .map_err(err);
            send(Event::CheckedIn(r));
        }
        Command::Headcount { activity_id } => {
            let r = node
                .record_checkin(NewCheckIn {
                    activity_id,
                    resident: None,
                    headcount: 1,
                    companions: 0,
                })
                .await
                .map(|_| ())
                .map_err(err);
            send(Event::Counted(r));
        }
        Command::Rate {
            activity_id,
            score,
            reason,
        } => {
            let r = node
                .record_rating(&activity_id, score, reason)
                .await
                .map(|_| ())
                .map_err(err);
            send(Event::Rated(r));
        }
        Command::Request {
            category,
            text,
            resident,
        } => {
            let callback = resident.is_some();
            let r = node
                .record_request(category, text, resident, callback)
                .await
                .map_err(err);
            send(Event::RequestSaved(r));
        }
        Command::MyRequests(phone) => {
            send(Event::MyRequests(
                node.my_requests(&phone).await.map_err(err),
            ));
        }
        Command::Volunteer(phone) => {
            let standing = async {
                Ok::<_, linli_core::Error>((
                    node.volunteer_summary(&phone).await?,
                    node.shop(&phone).await?,
                ))
            };
            send(Event::Volunteer(standing.await.map_err(err)));
        }
        Command::Redeem {
            phone,
            item,
            points,
            lend,
        } => {
            let r = if lend {
                node.redeem_on_credit(&phone, &item, points).await
            } else {
                node.redeem_or_ask(&phone, &item, points, REDEEM_PATIENCE)
                    .await
            };
            send(Event::Redeemed(r.map(|r| (item, points, r)).map_err(err)));
        }
        Command::Shift {
            volunteer,
            action,
            shift,
            activity,
        } => {
            let r = node
                .record_shift(volunteer, action, shift, activity)
                .await
                .map(|_| action)
                .map_err(err);
            send(Event::ShiftSaved(r));
        }
        Command::TodayStats => {
            if let Ok(s) = node.person_times_today().await {
                send(Event::TodayStats(s));
            }
        }
        Command::ForgetResidents => node.forget_residents(),
        Command::SetSetting(k, v) => {
            if let Err(e) = node.set_setting(&k, &v).await {
                tracing::error!(error = %e, setting = %k, "saving a setting failed");
            }
        }
        Command::Shutdown => {}
    }
}

#[cfg(test)]
mod failure_tests {
    use super::Failure;

    #[test]
    fn a_full_store_bad_input_and_other_failures_are_told_apart() {
        let full = Failure::from(linli_core::Error::StoreFull("disk full".into()));
        assert!(matches!(full, Failure::StoreFull(_)));
        let bad = Failure::from(linli_core::Error::invalid("headcount", "must be 1 to 200"));
        assert!(matches!(&bad, Failure::BadInput(s) if s.contains("headcount")));
        assert!(matches!(
            Failure::from(linli_core::Error::Stopped),
            Failure::Other(_)
        ));
    }
}
