//! [`KioskApp`]: the egui app. It holds what the screens show and which
//! screen is up; everything slow goes to the [`Worker`] as a [`Command`]
//! and comes back as an [`Event`]. Large targets, big type, few steps, no
//! free-text entry for residents: choices, smileys and a numeric keypad.
//!
//! - [`widgets`]: buttons, keypad, chips, faces, colours.
//! - `screens`: one method per screen.

mod screens;
pub mod widgets;

use std::{collections::HashMap, sync::Arc};

use chrono::TimeZone;
use linli_core::{
    KioskNodeOptions, SyncStatus,
    model::{Activity, RequestCategory, WalkInService},
    node::{
        CheckInOutcome, MyRequest, Redemption, ResidentInput, Shop, ShopItem, VolunteerSummary,
    },
    pairing_link::{self, PairingLink},
    phone::PhoneNumber,
};

use crate::{
    i18n::{Key, Lang},
    pin,
    worker::{Command, Event, Failure, Start, Worker},
};

/// Wall clock in ms (injected so tests control "now").
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;
/// Wakes the UI (the egui context's `request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Default idle timeout, seconds.
pub const DEFAULT_IDLE_SECS: u32 = 60;
/// The warning shows this many seconds before the timeout.
pub const IDLE_WARNING_SECS: u32 = 10;

/// What a resident checks in to.
#[derive(Clone, Debug, PartialEq)]
pub enum Visit {
    /// A scheduled activity, by id.
    Activity(String),
    /// A walk-in visit for one of the hall's services, by id.
    Service(String),
}

/// What a typed phone number is for.
#[derive(Clone, Debug, PartialEq)]
pub enum PhoneFor {
    /// Checking in to an activity or for a walk-in service.
    CheckIn {
        /// What to.
        visit: Visit,
        /// Its title.
        title: String,
    },
    /// A callback for a request.
    Callback {
        /// Category.
        category: RequestCategory,
        /// Phrases chosen.
        phrases: Vec<Key>,
    },
    /// Looking up "My requests".
    MyRequests,
    /// The volunteer screen.
    Volunteer,
}

/// What an activity list is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Check in (open now).
    CheckIn,
    /// Rate (started today, already begun).
    Rate,
}

/// The pairing form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairForm {
    /// Server address, or the console's whole pairing link.
    pub server: String,
    /// Pairing token.
    pub token: String,
    /// New staff PIN.
    pub pin: String,
    /// Which field the on-screen keys type into (0, 1, 2).
    pub field: usize,
    /// What went wrong last time.
    pub error: Option<String>,
}

impl PairForm {
    /// When the server field holds the console's whole pairing link and
    /// no token was typed, the link's token fills the token field.
    pub fn take_token_from_link(&mut self) {
        if self.token.trim().is_empty()
            && let Ok(PairingLink {
                token: Some(token), ..
            }) = PairingLink::parse(&self.server)
        {
            self.token = token;
        }
    }
}

/// Which screen is up.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    /// Waiting for the worker.
    Starting,
    /// The node could not start.
    Fatal(String),
    /// Not paired: staff enter server, token and PIN.
    Pair(PairForm),
    /// Hall name, today's activities, the big buttons.
    Start,
    /// Choose an activity.
    Pick(Purpose),
    /// Choose the walk-in service a resident came for.
    Services,
    /// Type a phone number.
    Phone {
        /// What for.
        purpose: PhoneFor,
        /// Digits so far.
        digits: String,
        /// What was wrong with the last "next".
        error: Option<Key>,
    },
    /// Waiting for the name lookup.
    LookingUp {
        /// What to.
        visit: Visit,
        /// Its title.
        title: String,
        /// The number.
        phone: PhoneNumber,
    },
    /// A new resident may leave a short name.
    Name {
        /// What to.
        visit: Visit,
        /// Its title.
        title: String,
        /// The number.
        phone: PhoneNumber,
        /// Surname chosen so far.
        surname: Option<String>,
    },
    /// Confirm with the masked number, name and companions.
    Confirm {
        /// What to.
        visit: Visit,
        /// Its title.
        title: String,
        /// The number.
        phone: PhoneNumber,
        /// Short name, if any.
        name: Option<String>,
        /// Companions.
        companions: u32,
    },
    /// Counting heads for an activity without named check-in.
    Headcount {
        /// Activity id.
        activity_id: String,
        /// Its title.
        title: String,
        /// Taps so far on this screen.
        count: u32,
    },
    /// Smileys and reason chips.
    Faces {
        /// Activity id.
        activity_id: String,
        /// Its title.
        title: String,
        /// Chips chosen.
        chips: Vec<Key>,
    },
    /// The request categories.
    Category,
    /// Preset phrases of a category.
    Compose {
        /// Category.
        category: RequestCategory,
        /// Phrases chosen.
        phrases: Vec<Key>,
    },
    /// Ask whether to leave a number for a callback.
    Callback {
        /// Category.
        category: RequestCategory,
        /// Phrases chosen.
        phrases: Vec<Key>,
    },
    /// A resident's requests.
    MyRequests(Vec<MyRequest>),
    /// A volunteer's standing, sign in/out and the items of the hall's
    /// 爱心超市 their points afford.
    Volunteer {
        /// The volunteer.
        phone: PhoneNumber,
        /// Standing.
        summary: VolunteerSummary,
        /// What this kiosk offers them.
        shop: Shop,
    },
    /// Which of today's activities the shift a volunteer signs in to
    /// serves (the hall's rules may give a kind its own points), or the
    /// hall's everyday duty.
    ServeWhich {
        /// The volunteer.
        phone: PhoneNumber,
    },
    /// "Redeem N points for this item?"
    RedeemConfirm {
        /// The volunteer.
        phone: PhoneNumber,
        /// The item chosen.
        item: ShopItem,
        /// Their balance before.
        balance: u64,
        /// Of the points, what this kiosk would lend (赊兑, offline, the
        /// hall's rules allowing): 0 for none.
        lend: u64,
    },
    /// Staff confirm the hand-over with their PIN.
    RedeemStaff {
        /// The volunteer.
        phone: PhoneNumber,
        /// The item chosen.
        item: ShopItem,
        /// Points to lend (see `RedeemConfirm`).
        lend: u64,
        /// Digits so far.
        digits: String,
        /// What was wrong.
        error: Option<String>,
    },
    /// The receipt of a redemption.
    Receipt {
        /// The item.
        item: String,
        /// Points spent.
        points: u64,
        /// Of them, what the kiosk lent (赊兑).
        owed: u64,
        /// The reference staff and the volunteer keep.
        reference: String,
    },
    /// The staff PIN.
    Pin {
        /// Digits so far.
        digits: String,
        /// What was wrong.
        error: Option<String>,
    },
    /// Staff mode.
    Staff,
    /// Waiting for the worker to commit or answer.
    Saving,
    /// Waiting for a redemption, which may first fetch points or an item
    /// from the hall's other kiosks (at most `worker::REDEEM_PATIENCE`).
    Redeeming,
    /// The outcome, with a way home (and a retry that keeps what was entered).
    Done {
        /// Recorded (true) or not.
        ok: bool,
        /// The message.
        message: Key,
        /// Detail for staff, if it failed.
        detail: Option<String>,
        /// A reference given to the resident.
        reference: Option<String>,
        /// A link shown as a QR code.
        qr: Option<String>,
        /// Where "try again" goes, with what was entered.
        retry: Option<Box<Screen>>,
    },
}

/// The kiosk app.
pub struct KioskApp {
    worker: Option<Worker>,
    options: KioskNodeOptions,
    wake: Waker,
    clock: Clock,
    tz: chrono_tz::Tz,
    /// Current language.
    pub lang: Lang,
    default_lang: Lang,
    /// Current screen.
    pub screen: Screen,
    hall_name: String,
    hall_id: String,
    kiosk_id: String,
    server: String,
    status: SyncStatus,
    activities: Vec<(String, Activity)>,
    services: Vec<(String, WalkInService)>,
    /// What the outcome screen says once the check-in under way is
    /// recorded, or found already recorded (an activity's words, or a
    /// walk-in's).
    checkin_messages: (Key, Key),
    today: HashMap<String, u64>,
    idle_secs: u32,
    last_input_ms: i64,
    large_text: bool,
    staff_pin: Option<String>,
    pin_guard: pin::Guard,
    pending_pin: Option<String>,
    pairing: Option<PairForm>,
    last_rating: Option<(String, i64)>,
    pending_volunteer: Option<PhoneNumber>,
    retry_after_failure: Option<Screen>,
    /// Spoken prompts (off unless staff turn them on).
    speech: crate::speech::Speech,
    /// The screen title last read aloud.
    spoken_title: Option<String>,
    styled: bool,
    warning_shown: bool,
}

impl KioskApp {
    /// An app for a paired kiosk (or one pairing now, with [`Start::Pair`]).
    pub fn new(
        start: Start,
        clock: Clock,
        tz: chrono_tz::Tz,
        wake: Waker,
    ) -> std::io::Result<Self> {
        let options = match &start {
            Start::Open(o) | Start::Pair { options: o, .. } => o.clone(),
        };
        let mut app = Self::unpaired(options, clock, tz, wake);
        app.worker = Some(Worker::spawn(start, app.wake.clone())?);
        app.screen = Screen::Starting;
        Ok(app)
    }

    /// An app for a kiosk not paired yet: it opens on the pairing screen.
    pub fn unpaired(
        options: KioskNodeOptions,
        clock: Clock,
        tz: chrono_tz::Tz,
        wake: Waker,
    ) -> Self {
        let now = clock();
        Self {
            worker: None,
            options,
            wake,
            clock,
            tz,
            lang: Lang::Zh,
            default_lang: Lang::Zh,
            screen: Screen::Pair(PairForm {
                server: "http://".into(),
                ..PairForm::default()
            }),
            hall_name: String::new(),
            hall_id: String::new(),
            kiosk_id: String::new(),
            server: String::new(),
            status: SyncStatus::default(),
            activities: Vec::new(),
            services: Vec::new(),
            checkin_messages: (Key::CheckedIn, Key::AlreadyCheckedIn),
            today: HashMap::new(),
            idle_secs: DEFAULT_IDLE_SECS,
            last_input_ms: now,
            large_text: false,
            staff_pin: None,
            pin_guard: pin::Guard::default(),
            pending_pin: None,
            pairing: None,
            last_rating: None,
            pending_volunteer: None,
            retry_after_failure: None,
            speech: crate::speech::Speech::default(),
            spoken_title: None,
            styled: false,
            warning_shown: false,
        }
    }

    /// Set the staff PIN once the node is open (e.g. the demo's).
    pub fn with_staff_pin(mut self, pin: &str) -> Self {
        if pin::valid(pin) {
            self.pending_pin = Some(pin::hash(pin));
        }
        self
    }

    /// Set fonts, sizes and relaxed click timing for elderly fingers.
    pub fn setup(ctx: &egui::Context) {
        crate::fonts::install(ctx);
        ctx.options_mut(|o| {
            o.input_options.max_click_duration = 3.0;
            o.input_options.max_click_dist = 24.0;
        });
        ctx.all_styles_mut(|s| {
            use egui::{FontFamily::Proportional, FontId, TextStyle};
            s.text_styles = [
                (TextStyle::Heading, FontId::new(40.0, Proportional)),
                (TextStyle::Body, FontId::new(widgets::BODY, Proportional)),
                (
                    TextStyle::Button,
                    FontId::new(widgets::BODY + 4.0, Proportional),
                ),
                (TextStyle::Small, FontId::new(20.0, Proportional)),
                (
                    TextStyle::Monospace,
                    FontId::new(widgets::BODY, egui::FontFamily::Monospace),
                ),
            ]
            .into();
            s.spacing.item_spacing = egui::Vec2::new(16.0, 16.0);
            s.spacing.button_padding = egui::Vec2::new(24.0, 16.0);
            s.spacing.interact_size.y = widgets::TARGET;
            s.visuals = egui::Visuals::light();
            s.visuals.panel_fill = widgets::PAPER;
            s.visuals.override_text_color = Some(widgets::INK);
        });
    }

    fn t(&self, key: Key) -> &'static str {
        self.lang.t(key)
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn send(&self, cmd: Command) {
        if let Some(w) = &self.worker {
            w.send(cmd);
        }
    }

    /// The sync status last reported.
    pub fn status(&self) -> &SyncStatus {
        &self.status
    }

    /// True once the hall calendar has arrived.
    pub fn has_activities(&self) -> bool {
        !self.activities.is_empty()
    }

    /// True once the hall's walk-in services have arrived (with the calendar).
    pub fn has_services(&self) -> bool {
        !self.services.is_empty()
    }

    /// Back to the start screen, forgetting everything of the last person.
    pub fn reset(&mut self) {
        // Nothing of the last person is said once they have gone.
        self.speech.stop();
        self.spoken_title = None;
        self.screen = Screen::Start;
        self.lang = self.default_lang;
        self.pending_volunteer = None;
        self.retry_after_failure = None;
        self.last_input_ms = self.now();
        self.send(Command::ForgetResidents);
    }

    fn failed(&mut self, failure: Failure) {
        let retry = self.retry_after_failure.take().map(Box::new);
        let message = match &failure {
            Failure::StoreFull(_) => Key::StoreFull,
            Failure::BadInput(_) => Key::InputRefused,
            Failure::Other(_) => Key::RecordFailed,
        };
        self.screen = Screen::Done {
            ok: false,
            message,
            detail: Some(failure.to_string()),
            reference: None,
            qr: None,
            retry,
        };
    }

    /// Nothing was recorded, for a reason the person can read.
    fn refused(&mut self, message: Key) {
        self.retry_after_failure = None;
        self.screen = Screen::Done {
            ok: false,
            message,
            detail: None,
            reference: None,
            qr: None,
            retry: None,
        };
    }

    fn done(&mut self, message: Key) {
        self.retry_after_failure = None;
        self.screen = Screen::Done {
            ok: true,
            message,
            detail: None,
            reference: None,
            qr: None,
            retry: None,
        };
    }

    fn drain_events(&mut self) {
        let events = self.worker.as_ref().map(Worker::poll).unwrap_or_default();
        for e in events {
            self.apply(e);
        }
    }

    fn apply(&mut self, e: Event) {
        match e {
            Event::Ready {
                hall_name,
                hall_id,
                tz,
                kiosk_id,
                server,
            } => {
                if let Ok(tz) = tz.parse() {
                    self.tz = tz;
                }
                self.hall_name = hall_name;
                self.hall_id = hall_id;
                self.kiosk_id = kiosk_id;
                self.server = server;
                self.pairing = None;
                if let Some(hash) = self.pending_pin.take() {
                    self.send(Command::SetSetting("staff_pin".into(), hash.clone()));
                    self.staff_pin = Some(hash);
                }
                if self.screen == Screen::Starting {
                    self.reset();
                }
            }
            Event::Settings(settings) => {
                for (k, v) in settings {
                    match k.as_str() {
                        "lang" => {
                            self.default_lang = Lang::from_code(&v);
                            self.lang = self.default_lang;
                        }
                        "idle_secs" => {
                            self.idle_secs = v.parse().unwrap_or(DEFAULT_IDLE_SECS).clamp(15, 600)
                        }
                        "staff_pin" => self.staff_pin = Some(v),
                        "speech" => self.speech.set_enabled(v == "on"),
                        _ => {}
                    }
                }
            }
            Event::Status(s) => self.status = s,
            Event::Activities(a) => self.activities = a,
            Event::Services(s) => self.services = s,
            Event::TodayStats(s) => self.today = s.into_iter().collect(),
            Event::Known(phone, name) => {
                if let Screen::LookingUp {
                    visit,
                    title,
                    phone: p,
                } = &self.screen
                    && *p == phone
                {
                    let (visit, title) = (visit.clone(), title.clone());
                    self.screen = match name {
                        Some(name) => Screen::Confirm {
                            visit,
                            title,
                            phone,
                            name: Some(name),
                            companions: 0,
                        },
                        None => Screen::Name {
                            visit,
                            title,
                            phone,
                            surname: None,
                        },
                    };
                }
            }
            Event::CheckedIn(r) => match r {
                Ok(CheckInOutcome::Recorded(_)) => self.done(self.checkin_messages.0),
                Ok(CheckInOutcome::AlreadyCheckedIn) => self.done(self.checkin_messages.1),
                Err(e) => self.failed(e),
            },
            Event::Counted(r) => {
                if let Err(e) = r {
                    self.failed(e);
                }
            }
            Event::Rated(r) => match r {
                Ok(()) => self.done(Key::ThanksRating),
                Err(e) => self.failed(e),
            },
            Event::RequestSaved(r) => match r {
                Ok(id) => {
                    self.retry_after_failure = None;
                    let reference = id.short_reference();
                    let qr = format!(
                        "{}m/request?hall={}&ref={reference}",
                        if self.server.ends_with('/') {
                            self.server.clone()
                        } else {
                            format!("{}/", self.server)
                        },
                        self.hall_id
                    );
                    self.screen = Screen::Done {
                        ok: true,
                        message: Key::RequestSaved,
                        detail: None,
                        reference: Some(reference),
                        qr: Some(qr),
                        retry: None,
                    };
                }
                Err(e) => self.failed(e),
            },
            Event::MyRequests(r) => match r {
                Ok(list) => self.screen = Screen::MyRequests(list),
                Err(e) => self.failed(e),
            },
            Event::Volunteer(r) => match (r, self.pending_volunteer.take()) {
                (Ok((summary, shop)), Some(phone)) => {
                    self.screen = Screen::Volunteer {
                        phone,
                        summary,
                        shop,
                    }
                }
                (Err(e), _) => self.failed(e),
                (Ok(_), None) => {}
            },
            Event::Redeemed(r) => match r {
                Ok((
                    item,
                    points,
                    Redemption::Redeemed {
                        reference, owed, ..
                    },
                )) => {
                    self.retry_after_failure = None;
                    self.screen = Screen::Receipt {
                        item,
                        points,
                        owed,
                        reference,
                    };
                }
                Ok((_, _, Redemption::Refused { .. })) => self.refused(Key::RedeemRefused),
                Ok((_, _, Redemption::NotOffered)) => self.refused(Key::CatalogueChanged),
                Err(e) => self.failed(e),
            },
            Event::ShiftSaved(r) => match r {
                Ok(linli_core::model::ShiftAction::SignIn) => self.done(Key::SignedIn),
                Ok(linli_core::model::ShiftAction::SignOut) => self.done(Key::SignedOut),
                Err(e) => self.failed(e),
            },
            Event::Fatal(e) => {
                if let Some(mut form) = self.pairing.take() {
                    // Pairing failed: back to the form, with what was typed.
                    form.error = Some(e);
                    self.worker = None;
                    self.screen = Screen::Pair(form);
                } else {
                    self.screen = Screen::Fatal(e);
                }
            }
        }
    }

    /// Pair with the values of `form` (from the pairing screen). The
    /// server field may hold the console's whole pairing link: then the
    /// token (unless one was typed) and the CA's fingerprint come from it.
    fn pair(&mut self, mut form: PairForm) {
        let link = match PairingLink::parse(&form.server) {
            Ok(link) => link,
            Err(e) => {
                // A scanned or typed link that is wrong says why; an
                // address not filled in asks for what is missing.
                let error = if form.server.contains(pairing_link::FRAGMENT_PREFIX) {
                    format!("{}: {e}", self.t(Key::PairLinkBad))
                } else {
                    self.t(Key::PairMissing).to_string()
                };
                self.screen = Screen::Pair(PairForm {
                    error: Some(error),
                    ..form
                });
                return;
            }
        };
        form.take_token_from_link();
        if form.token.trim().is_empty() || !pin::valid(&form.pin) {
            self.screen = Screen::Pair(PairForm {
                error: Some(self.t(Key::PairMissing).to_string()),
                ..form
            });
            return;
        }
        if let Some(old) = self.worker.take() {
            // Closing the old node waits on disk: not on the UI thread.
            std::thread::spawn(move || drop(old));
        }
        self.pending_pin = Some(pin::hash(&form.pin));
        let start = Start::Pair {
            options: self.options.clone(),
            server: link.server,
            token: form.token.trim().to_string(),
            ca_fingerprint: link.ca,
        };
        match Worker::spawn(start, self.wake.clone()) {
            Ok(w) => {
                self.worker = Some(w);
                self.pairing = Some(PairForm {
                    error: None,
                    ..form
                });
                self.screen = Screen::Starting;
            }
            Err(e) => self.screen = Screen::Fatal(e.to_string()),
        }
    }

    fn local_day(&self, ms: i64) -> chrono::NaiveDate {
        self.tz
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }

    /// Now on the hall's clock.
    fn local_now(&self) -> Option<chrono::DateTime<chrono_tz::Tz>> {
        self.tz.timestamp_millis_opt(self.now()).single()
    }

    fn hhmm(&self, ms: i64) -> String {
        self.tz
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default()
    }

    fn todays(&self) -> Vec<(String, Activity)> {
        let today = self.local_day(self.now());
        self.activities
            .iter()
            .filter(|(_, a)| self.local_day(a.starts_at_ms) == today)
            .cloned()
            .collect()
    }

    fn places_left(&self, id: &str, a: &Activity) -> Option<u64> {
        a.capacity
            .map(|c| u64::from(c).saturating_sub(self.today.get(id).copied().unwrap_or(0)))
    }

    fn resident(phone: &PhoneNumber, name: Option<String>) -> ResidentInput {
        ResidentInput {
            phone: phone.clone(),
            name,
        }
    }

    /// Idle handling: returns seconds left when the warning should show.
    /// While the warning is up, a whole touch (press and release) lands on
    /// the warning and dismisses it — never on the screen under it.
    fn idle(&mut self, ctx: &egui::Context) -> Option<u32> {
        let (active, released) = ctx.input(|i| {
            (
                !i.events.is_empty() || i.pointer.any_down(),
                i.pointer.any_released(),
            )
        });
        let now = self.now();
        if matches!(
            self.screen,
            Screen::Start | Screen::Starting | Screen::Pair(_) | Screen::Fatal(_)
        ) {
            self.warning_shown = false;
            self.last_input_ms = now;
            // The start screen shows the time: keep it current.
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
            return None;
        }
        ctx.request_repaint_after(std::time::Duration::from_millis(500));
        if self.warning_shown {
            if released {
                self.warning_shown = false;
                self.last_input_ms = now;
                // This frame still shows the warning, so the release is spent on it.
                return Some(IDLE_WARNING_SECS);
            }
        } else if active {
            self.last_input_ms = now;
        }
        let idle_ms = now - self.last_input_ms;
        let limit = i64::from(self.idle_secs) * 1000;
        if idle_ms >= limit {
            self.warning_shown = false;
            self.reset();
            return None;
        }
        let left = limit - idle_ms;
        self.warning_shown = left <= i64::from(IDLE_WARNING_SECS) * 1000;
        self.warning_shown
            .then(|| u32::try_from((left + 999) / 1000).unwrap_or(0))
    }

    /// Draw one frame.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        if !self.styled {
            // Fonts take effect from the next frame: draw nothing until then,
            // so no frame ever shows a blank square for a Chinese character.
            Self::setup(ui.ctx());
            self.styled = true;
            ui.ctx().request_repaint();
            return;
        }
        self.drain_events();
        let ctx = ui.ctx().clone();
        let warning = self.idle(&ctx);
        egui::Panel::top("top").show(ui, |ui| {
            ui.add_space(8.0);
            self.top_bar(ui);
            ui.add_space(8.0);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.add_space(6.0);
            self.status_strip(ui);
            ui.add_space(6.0);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(left) = warning {
                self.idle_warning(ui, left);
                return;
            }
            egui::ScrollArea::vertical().show(ui, |ui| self.screen_ui(ui));
        });
        self.speak(&ctx);
    }

    /// Spoken prompts on (as the staff setting does; for tests and demos).
    pub fn with_speech(mut self, on: bool) -> Self {
        self.speech.set_enabled(on);
        self
    }

    /// What was handed to the speech program, oldest first.
    pub fn spoken(&self) -> &[String] {
        self.speech.said()
    }

    /// The title read aloud when a screen opens.
    fn screen_title(&self) -> Option<String> {
        let key = match &self.screen {
            Screen::Start => Key::TodaysActivities,
            Screen::Pick(Purpose::CheckIn) => Key::PickActivity,
            Screen::Pick(Purpose::Rate) => Key::RateWhich,
            Screen::Services => Key::WhichService,
            Screen::Phone { .. } => Key::EnterPhone,
            Screen::Name { .. } => Key::WelcomeNew,
            Screen::Headcount { .. } => Key::HeadcountOnly,
            Screen::Category => Key::ChooseCategory,
            Screen::Callback { .. } => Key::WantCallback,
            Screen::MyRequests(_) => Key::MyRequests,
            Screen::Pin { .. } => Key::EnterPin,
            Screen::RedeemStaff { .. } => Key::StaffConfirm,
            Screen::Receipt { .. } => Key::Redeemed,
            Screen::Volunteer { .. } => Key::VolunteerTitle,
            Screen::ServeWhich { .. } => Key::ServeWhich,
            Screen::Staff => Key::StaffTitle,
            Screen::Done { message, .. } => *message,
            Screen::Confirm { title, .. } | Screen::Faces { title, .. } => {
                return Some(title.clone());
            }
            Screen::RedeemConfirm { item, .. } => {
                return Some(crate::i18n::redeem_question(
                    self.lang,
                    &item.item,
                    item.points,
                ));
            }
            _ => return None,
        };
        Some(self.t(key).to_string())
    }

    /// Read aloud what this frame touched and the screen it opened, as one
    /// utterance (a new one cuts the old short).
    fn speak(&mut self, ctx: &egui::Context) {
        if !self.speech.enabled() {
            return;
        }
        let mut parts: Vec<String> = ctx.output(|o| {
            o.events
                .iter()
                .filter_map(|e| match e {
                    egui::output::OutputEvent::Clicked(info) => info.label.clone(),
                    _ => None,
                })
                .collect()
        });
        let title = self.screen_title();
        if title != self.spoken_title {
            parts.extend(title.clone());
            self.spoken_title = title;
        }
        if !parts.is_empty() {
            self.speech.say(&parts.join("，"), self.lang);
        }
    }
}

impl eframe::App for KioskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}
