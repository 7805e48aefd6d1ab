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
    model::Activity,
    node::{CheckInOutcome, NewCheckIn, ResidentInput},
    phone::PhoneNumber,
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
    },
}

/// What the UI asks of the worker.
#[derive(Debug)]
pub enum Command {
    /// A named check-in.
    CheckIn {
        /// Activity.
        activity_id: String,
        /// The number typed.
        phone: PhoneNumber,
        /// Companions.
        companions: u32,
    },
    /// One more person for a headcount-only activity.
    Headcount {
        /// Activity.
        activity_id: String,
    },
    /// Stop the node and end the thread.
    Shutdown,
}

/// What the worker tells the UI.
#[derive(Debug, Clone)]
pub enum Event {
    /// The node is open.
    Ready {
        /// Hall name.
        hall_name: String,
        /// This kiosk's id.
        kiosk_id: String,
    },
    /// Sync status changed.
    Status(SyncStatus),
    /// The hall calendar (all activities, by start).
    Activities(Vec<(String, Activity)>),
    /// Result of a check-in.
    CheckedIn(Result<CheckInOutcome, String>),
    /// Result of a headcount tap.
    Counted(Result<(), String>),
    /// The node could not start.
    Fatal(String),
}

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
        } => KioskNode::pair(options, &server, &token).await,
    };
    let node = match node {
        Ok(n) => n,
        Err(e) => {
            send(Event::Fatal(e.to_string()));
            return;
        }
    };
    send(Event::Ready {
        hall_name: node.hall_name().await,
        kiosk_id: node.config().kiosk_id.clone(),
    });
    let mut status = node.status();
    send(Event::Status(status.borrow().clone()));
    let mut last_activities: Option<Vec<(String, Activity)>> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None | Some(Command::Shutdown) => break,
                Some(cmd) => handle(&node, cmd, &send).await,
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
                    send(Event::Ready { hall_name: node.hall_name().await, kiosk_id: node.config().kiosk_id.clone() });
                    last_activities = Some(acts);
                }
            }
        }
    }
    node.shutdown().await;
}

async fn handle(node: &KioskNode, cmd: Command, send: &impl Fn(Event)) {
    match cmd {
        Command::CheckIn {
            activity_id,
            phone,
            companions,
        } => {
            let r = node
                .record_checkin(NewCheckIn {
                    activity_id,
                    resident: Some(ResidentInput { phone, name: None }),
                    headcount: 1,
                    companions,
                })
                .await
                .map_err(|e| e.to_string());
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
                .map_err(|e| e.to_string());
            send(Event::Counted(r));
        }
        Command::Shutdown => {}
    }
}
