//! Fuzz harnesses: one function per cargo-fuzz target in `fuzz/`, each
//! taking arbitrary bytes the way a kiosk or a browser could send them and
//! driving the code the server runs on them. They live in the library, not
//! in `fuzz/`, so `tests/fuzz_corpus.rs` replays every corpus and
//! regression input on stable Rust in CI.
//!
//! None of them may panic on any input: a panic is a bug found.
//! [`api_inputs`] also reports a 5xx response (or a body that fails
//! half-way, or a request that hangs) as `Err`, which its fuzz target turns
//! into a crash and the replay test into a failure.
//!
//! - [`sync_message`]: a WebSocket frame from a kiosk on `/sync`.
//! - [`document`]: bytes as a saved document, as changes to a kiosk ledger
//!   the server holds, and as an Automerge sync message.
//! - [`document_fields`]: a plausible ledger or request book built from the
//!   bytes (wrong types, huge numbers, bad keys), to reach deep validation.
//! - [`api_inputs`]: a request to the JSON API, the console or the mobile
//!   page, through the real router.
//! - [`config_files`]: the server's TOML configuration and the kiosk's
//!   configuration JSON.

use std::{
    cell::RefCell,
    panic::{AssertUnwindSafe, catch_unwind},
    str::FromStr,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use automerge::{
    ActorId, Automerge, AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
    sync::{self, SyncDoc},
    transaction::{Transactable, Transaction},
};
use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Method, Request, header},
};
use linli_core::{
    docs::{self, DocKind, calendar, directory, ledger, requests},
    ids::{HallId, KioskId, RecordId},
    model::{Activity, CheckIn, Rating, Request as ResidentRequest, ResidentRef, ShiftEvent},
    protocol::{self, KioskConfig, PROTOCOL_HEADER},
    sqlite::Durability,
};
use rusqlite::Connection;
use tower::ServiceExt;

use linli_sync_engine::{auth, clock::now_ms, projection, provision, server::ServerCore, wire};
use linli_sync_server::cli;
use linli_web::{api::router, console, state::AppState, sync_ws};

/// The hall of the kiosk that "delivered" a fuzzed document.
pub const OWNER_HALL: &str = "xianfeng";
/// The kiosk that "delivered" a fuzzed document.
pub const OWNER_KIOSK: &str = "xianfeng-k1";

// ---------------------------------------------------------------------------
// sync_message

/// A binary WebSocket frame on `/sync`, as the connection sees it before
/// samod: the header checks of the upgrade (the bytes as header values),
/// the `join` whose peer id is bound, the peek that claims a delivered
/// document, then what samod does with
/// the message's `data` — an Automerge sync message applied to the
/// document — and the projection of what that delivered.
pub fn sync_message(data: &[u8]) {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(data) {
        headers.insert(PROTOCOL_HEADER, v.clone());
        headers.insert(header::AUTHORIZATION, v);
    }
    let _ = sync_ws::check_protocol(&headers);
    let _ = auth::bearer(&headers);

    // The first message must be a `join`; its peer id is bound to the
    // kiosk before samod sees anything.
    if let Some(peer) = wire::peek_join(data) {
        let registry = linli_sync_engine::registry::Registry::default();
        let (conn, _) = registry.open(linli_sync_engine::registry::KioskIdentity::kiosk(
            OWNER_KIOSK,
            OWNER_HALL,
        ));
        let _ = registry.bind(
            conn,
            samod::PeerId::from(peer),
            &samod::PeerId::from("server"),
        );
    }
    // The connection claims the document of the first `sync` message.
    let _claims = matches!(wire::peek(data), Some((kind, _)) if kind == "sync");
    if let Some(payload) = wire::field_bytes(data, "data") {
        apply_sync_message(payload);
    }
}

/// Apply `bytes` as an Automerge sync message to an empty document (a
/// document the server first hears of), answer it, and project the result.
fn apply_sync_message(bytes: &[u8]) {
    if let Ok(message) = sync::Message::decode(bytes) {
        receive_screened(Automerge::new(), &[], message);
    }
}

/// What samod does with `message` for `doc` (last projected at `prev`),
/// once it passed the connection's screen; then project the result.
fn receive_screened(mut doc: Automerge, prev: &[ChangeHash], message: sync::Message) {
    // What `intake` refuses never reaches automerge: the connection drops
    // it before samod (see that module).
    if let linli_sync_engine::intake::Screen::Refuse(_) =
        linli_sync_engine::intake::screen_message(&message)
    {
        return;
    }
    // What the patched samod-core does with the rest (its PATCHED.md, 3):
    // a panic of the receive into an empty document, or of the trial load
    // of anything but change chunks into a document with content, refuses
    // the message and leaves the document as it was. Any other panic is a
    // finding.
    let mut state = sync::State::new();
    let received = if doc.is_empty() {
        match catch_unwind(AssertUnwindSafe(|| {
            doc.receive_sync_message(&mut state, message)
        })) {
            Ok(received) => received,
            Err(_) => return,
        }
    } else {
        if !linli_sync_engine::intake::change_chunks_only(&message) {
            let joined: Vec<u8> = message.changes.iter().flatten().copied().collect();
            let options = automerge::LoadOptions::new()
                .on_partial_load(automerge::OnPartialLoad::Ignore)
                .verification_mode(automerge::VerificationMode::Check);
            if catch_unwind(AssertUnwindSafe(|| {
                drop(Automerge::load_with_options(&joined, options));
            }))
            .is_err()
            {
                return;
            }
        }
        doc.receive_sync_message(&mut state, message)
    };
    if received.is_ok() {
        let _ = doc.generate_sync_message(&mut state);
        inspect(&doc, prev);
    }
}

// ---------------------------------------------------------------------------
// document

/// Arbitrary bytes as a kiosk could deliver them: as the chunks of a sync
/// message (a whole saved document, or changes) to a document the server
/// first hears of and to a kiosk ledger it already holds (projected
/// incrementally from its earlier heads), and as a sync message itself.
pub fn document(data: &[u8]) {
    let carried = sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![data.to_vec()].into(),
        flags: None,
        version: sync::MessageVersion::V1,
    };
    receive_screened(Automerge::new(), &[], carried.clone());
    if let Some((base, heads)) = base_ledger() {
        receive_screened(base.clone(), heads, carried);
    }
    apply_sync_message(data);
}

/// A small valid ledger of [`OWNER_KIOSK`] with its heads, built once.
fn base_ledger() -> Option<&'static (Automerge, Vec<ChangeHash>)> {
    static BASE: OnceLock<Option<(Automerge, Vec<ChangeHash>)>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut doc = ledger::new_ledger(OWNER_HALL, OWNER_KIOSK, "2026-11-23").ok()?;
        let id = uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001).to_string();
        let checkin = CheckIn {
            activity_id: "act-1".into(),
            service: None,
            resident: None,
            headcount: 3,
            companions: 0,
            kiosk_id: OWNER_KIOSK.into(),
            at_ms: 1_795_000_000_000,
        };
        ledger::add_checkin(&mut doc, &id, &checkin).ok()?;
        let heads = doc.get_heads();
        Some((doc, heads))
    })
    .as_ref()
}

/// Read `doc` the way the server and kiosks do: every core reader, then
/// the projection for the kiosk that delivered it, written into an
/// in-memory copy of the projection tables (rolled back).
fn inspect(doc: &Automerge, prev: &[ChangeHash]) {
    let header = docs::header(doc);
    let _ = calendar::hall_name(doc);
    let _ = calendar::time_zone(doc);
    let _ = calendar::activities(doc);
    let _ = directory::entries(doc).map(|entries| {
        for (key, url) in entries {
            let _ = directory::parse_entry_key(&key);
            let _ = samod::AutomergeUrl::from_str(&url);
        }
    });
    if let Ok(ids) = ledger::checkin_ids(doc) {
        for id in ids.iter().take(64) {
            let _ = ledger::checkin(doc, id);
            let _ = ledger::rating(doc, id);
            let _ = ledger::shift_event(doc, id);
            let _ = ledger::contains(doc, ledger::CHECKINS, id);
        }
    }
    if let Ok(ids) = requests::request_ids(doc) {
        for id in ids.iter().take(64) {
            let _ = requests::request(doc, id);
            let _ = requests::reply(doc, id);
        }
    }
    for map in [
        ledger::CHECKINS,
        ledger::RATINGS,
        ledger::SHIFTS,
        requests::REQUESTS,
    ] {
        let _ = docs::record_count(doc, map);
    }
    let _ = docs::changed_records(doc, prev);
    let _ = docs::expect_header(doc, DocKind::Ledger, OWNER_HALL, Some(OWNER_KIOSK));

    project(doc, prev, OWNER_HALL, OWNER_KIOSK);
    // Also as delivered by the kiosk it names, so its records are checked
    // one by one rather than the whole document refused.
    if let Ok(h) = header
        && let Some(kiosk) = &h.kiosk_id
        && (h.hall_id != OWNER_HALL || kiosk != OWNER_KIOSK)
    {
        project(doc, prev, &h.hall_id, kiosk);
    }
}

/// Assess `doc` for its owner and store the result in the in-memory
/// projection tables, inside a transaction that is rolled back.
fn project(doc: &Automerge, prev: &[ChangeHash], hall: &str, kiosk: &str) {
    let Some(assessment) = projection::assess(doc, prev, hall, kiosk) else {
        return;
    };
    let _ = assessment.record_ids().count();
    thread_local! {
        static TABLES: RefCell<Option<Connection>> = RefCell::new(projection_tables());
    }
    TABLES.with(|t| {
        if let Some(c) = t.borrow_mut().as_mut()
            && let Ok(tx) = c.transaction()
        {
            let write = linli_sync_engine::projection_tables::DocumentWrite {
                doc: "fuzzed-doc".into(),
                hall: hall.into(),
                kiosk: kiosk.into(),
                assessment,
                tagged: Vec::new(),
            };
            let _ = linli_sync_engine::projection_tables::store(&tx, &write, now_ms());
        }
    });
}

fn projection_tables() -> Option<Connection> {
    let mut c = Connection::open_in_memory().ok()?;
    linli_core::sqlite::migrate(
        &mut c,
        "projection",
        linli_sync_engine::projection_schema::MIGRATIONS,
    )
    .ok()?;
    Some(c)
}

// ---------------------------------------------------------------------------
// document_fields

/// Reads choices from the fuzz input; zeros once it runs out.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn pick<T: Clone>(&mut self, options: &[T]) -> Option<T> {
        let i = self.below(options.len());
        options.get(i).cloned()
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }

    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(&self.bytes(max)).into_owned()
    }

    fn i64(&mut self) -> i64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        i64::from_le_bytes(b)
    }

    fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        for x in &mut b {
            *x = self.byte();
        }
        uuid::Uuid::from_bytes(b).to_string()
    }
}

/// What a field of a record should hold.
#[derive(Clone, Copy)]
enum Field {
    Text,
    OptText,
    LongText,
    Kiosk,
    Count,
    Time,
    Bool,
    Resident,
    OptResident,
    Category,
    Action,
    Status,
    Kind,
}

const CHECKIN_FIELDS: &[(&str, Field)] = &[
    ("activity_id", Field::Text),
    ("resident", Field::OptResident),
    ("headcount", Field::Count),
    ("companions", Field::Count),
    ("kiosk_id", Field::Kiosk),
    ("at_ms", Field::Time),
];
const RATING_FIELDS: &[(&str, Field)] = &[
    ("activity_id", Field::Text),
    ("score", Field::Count),
    ("reason", Field::OptText),
    ("kiosk_id", Field::Kiosk),
    ("at_ms", Field::Time),
];
const SHIFT_FIELDS: &[(&str, Field)] = &[
    ("volunteer", Field::Resident),
    ("action", Field::Action),
    ("shift_id", Field::Text),
    ("activity_id", Field::OptText),
    ("kiosk_id", Field::Kiosk),
    ("at_ms", Field::Time),
];
const REQUEST_FIELDS: &[(&str, Field)] = &[
    ("category", Field::Category),
    ("text", Field::LongText),
    ("resident", Field::OptResident),
    ("callback_consent", Field::Bool),
    ("kiosk_id", Field::Kiosk),
    ("at_ms", Field::Time),
    ("status", Field::Status),
    ("reply", Field::OptText),
    ("updated_at_ms", Field::Time),
];
const ACTIVITY_FIELDS: &[(&str, Field)] = &[
    ("kind", Field::Kind),
    ("title", Field::Text),
    ("room", Field::OptText),
    ("starts_at_ms", Field::Time),
    ("ends_at_ms", Field::Time),
    ("capacity", Field::Count),
    ("named_checkin", Field::Bool),
    ("cancelled", Field::Bool),
];

const RECORD_MAPS: [&str; 7] = [
    ledger::CHECKINS,
    ledger::RATINGS,
    ledger::SHIFTS,
    requests::REQUESTS,
    "activities",
    "docs",
    "extra",
];

const INTERESTING_NUMBERS: [i64; 16] = [
    0,
    1,
    2,
    5,
    6,
    10,
    11,
    200,
    201,
    -1,
    i64::MIN,
    i64::MAX,
    u32::MAX as i64,
    u32::MAX as i64 + 1,
    1_795_000_000_000,
    1_795_000_000_000 + 11 * 60 * 1000,
];

/// A ledger or request book (or something like one) built from the bytes:
/// the header, record maps and records of the schema with each field
/// right, missing, of another type or out of range; some records changed
/// or deleted afterwards. Projected in full and incrementally.
pub fn document_fields(data: &[u8]) {
    let mut input = Choices(data);
    let mut doc = Automerge::new();
    doc.set_actor(ActorId::from(&[1u8, 2, 3, 4][..]));
    let mut tx = doc.transaction();
    if build_header(&mut tx, &mut input).is_err() {
        return;
    }
    let mut maps = Vec::new();
    for name in RECORD_MAPS {
        match input.below(6) {
            0 => {}
            1 => {
                let _ = put_wrong(&mut tx, &ROOT, name, &mut input);
            }
            _ => {
                if let Ok(obj) = tx.put_object(ROOT, name, ObjType::Map) {
                    maps.push((name, obj));
                }
            }
        }
    }
    tx.commit();
    if maps.is_empty() {
        inspect(&doc, &[]);
        return;
    }
    // Records, one change each, as a kiosk writes them.
    let mut keys = Vec::new();
    let records = input.below(9);
    for _ in 0..records {
        let Some((map, obj)) = input.pick(&maps) else {
            break;
        };
        let key = match input.below(8) {
            0 => input.text(40),
            1 => String::new(),
            _ => input.uuid(),
        };
        let fields = match (map, input.below(8)) {
            (_, 0) => [CHECKIN_FIELDS, RATING_FIELDS, SHIFT_FIELDS, REQUEST_FIELDS][input.below(4)],
            (m, _) if m == ledger::CHECKINS => CHECKIN_FIELDS,
            (m, _) if m == ledger::RATINGS => RATING_FIELDS,
            (m, _) if m == ledger::SHIFTS => SHIFT_FIELDS,
            (m, _) if m == requests::REQUESTS => REQUEST_FIELDS,
            _ => ACTIVITY_FIELDS,
        };
        let mut tx = doc.transaction();
        if input.below(10) == 0 {
            let _ = put_wrong(&mut tx, &obj, &key, &mut input);
        } else if let Ok(record) = tx.put_object(&obj, key.as_str(), ObjType::Map) {
            let _ = fill_record(&mut tx, &record, fields, &mut input);
        }
        tx.commit();
        keys.push((obj, key));
    }
    inspect(&doc, &[]);

    // Later changes: the projection reads only what changed since.
    let prev = doc.get_heads();
    let edits = input.below(5);
    if edits == 0 {
        return;
    }
    for _ in 0..edits {
        let mut tx = doc.transaction();
        let _ = match input.below(5) {
            0 => match input.pick(&keys) {
                Some((obj, key)) => tx.delete(&obj, key.as_str()),
                None => Ok(()),
            },
            1 => match input.pick(&keys) {
                Some((obj, key)) => match tx.get(&obj, key.as_str()) {
                    Ok(Some((_, record))) => {
                        let (name, field) = pick_field(&mut input);
                        put_field(&mut tx, &record, name, field, &mut input)
                    }
                    _ => Ok(()),
                },
                None => Ok(()),
            },
            2 => match input.pick(&RECORD_MAPS) {
                Some(name) => tx.put_object(ROOT, name, ObjType::Map).map(|_| ()),
                None => Ok(()),
            },
            3 => build_header(&mut tx, &mut input),
            _ => match input.pick(&maps).map(|(_, o)| o) {
                Some(obj) => {
                    let key = input.uuid();
                    tx.put_object(&obj, key.as_str(), ObjType::Map)
                        .and_then(|r| fill_record(&mut tx, &r, CHECKIN_FIELDS, &mut input))
                }
                None => Ok(()),
            },
        };
        tx.commit();
    }
    inspect(&doc, &prev);
}

fn pick_field(input: &mut Choices<'_>) -> (&'static str, Field) {
    let all = [CHECKIN_FIELDS, RATING_FIELDS, SHIFT_FIELDS, REQUEST_FIELDS].concat();
    input.pick(&all).unwrap_or(("at_ms", Field::Time))
}

fn build_header(tx: &mut Transaction<'_>, input: &mut Choices<'_>) -> Result<(), AutomergeError> {
    let schema = [
        Some(DocKind::Ledger.schema()),
        Some(DocKind::Ledger.schema()),
        Some(DocKind::RequestBook.schema()),
        Some(DocKind::RequestBook.schema()),
        Some(DocKind::Calendar.schema()),
        Some(DocKind::Directory.schema()),
        Some("linli.other"),
        None,
    ][input.below(8)];
    match (schema, input.below(8)) {
        (_, 0) => put_wrong(tx, &ROOT, "schema", input)?,
        (Some(s), 1) => put_text_object(tx, &ROOT, "schema", s)?,
        (Some(s), _) => tx.put(ROOT, "schema", s)?,
        (None, _) => {}
    }
    match input.below(16) {
        0 => {}
        1 => put_wrong(tx, &ROOT, "version", input)?,
        2 => tx.put(ROOT, "version", 2u64)?,
        3 => tx.put(ROOT, "version", -1i64)?,
        4 => tx.put(ROOT, "version", u64::MAX)?,
        5 => tx.put(ROOT, "version", 1i64)?,
        _ => tx.put(ROOT, "version", 1u64)?,
    }
    for (key, right, other) in [
        ("hall_id", OWNER_HALL, "dongfang"),
        ("kiosk_id", OWNER_KIOSK, "xianfeng-k2"),
        ("period", "2026-11-23", "2026-11"),
    ] {
        match input.below(16) {
            0 => {}
            1 => put_wrong(tx, &ROOT, key, input)?,
            2 => tx.put(ROOT, key, other)?,
            3 => put_text_object(tx, &ROOT, key, right)?,
            4 => {
                let s = input.text(16);
                tx.put(ROOT, key, s)?
            }
            _ => tx.put(ROOT, key, right)?,
        }
    }
    Ok(())
}

fn fill_record(
    tx: &mut Transaction<'_>,
    record: &ObjId,
    fields: &[(&'static str, Field)],
    input: &mut Choices<'_>,
) -> Result<(), AutomergeError> {
    for (name, field) in fields {
        put_field(tx, record, name, *field, input)?;
    }
    if input.below(8) == 0 {
        let name = input.text(12);
        put_wrong(tx, record, &name, input)?;
    }
    Ok(())
}

/// Put `field` at `obj[name]`: mostly a value that fits (so records get
/// past the first checks to the deeper ones), sometimes nothing, a value
/// of another type, or one out of range.
fn put_field(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    name: &str,
    field: Field,
    input: &mut Choices<'_>,
) -> Result<(), AutomergeError> {
    match input.below(16) {
        0 => return Ok(()),
        1 => return put_wrong(tx, obj, name, input),
        _ => {}
    }
    match field {
        Field::Text | Field::OptText => {
            if matches!(field, Field::OptText) && input.below(4) == 0 {
                return tx.put(obj, name, ScalarValue::Null);
            }
            let s = match input.below(12) {
                0 => String::new(),
                1 => " ".into(),
                2 => "a\u{0}b".into(),
                3 => "x".repeat(65),
                4 => input.text(24),
                5 | 6 => "活动一".into(),
                _ => "act-1".into(),
            };
            put_str(tx, obj, name, &s, input)
        }
        Field::LongText => {
            let n = usize::from(input.byte()) * 3;
            let c = input.pick(&['字', 'a', 'a', '\n', '\u{7}']).unwrap_or('a');
            let s: String = std::iter::repeat_n(c, n).collect();
            put_str(tx, obj, name, &s, input)
        }
        Field::Kiosk => {
            let s = match input.below(8) {
                0 => "xianfeng-k2".into(),
                1 => String::new(),
                2 => input.text(16),
                _ => OWNER_KIOSK.into(),
            };
            put_str(tx, obj, name, &s, input)
        }
        Field::Count | Field::Time => {
            let n = match (input.below(4), field) {
                (0, _) => input.i64(),
                (1, _) => input.pick(&INTERESTING_NUMBERS).unwrap_or(0),
                (_, Field::Count) => i64::from(input.byte() % 5) + 1,
                _ => 1_795_000_000_000 + i64::from(input.byte()) * 60_000,
            };
            match input.below(10) {
                0 => tx.put(obj, name, ScalarValue::Uint(n as u64)),
                1 => tx.put(obj, name, ScalarValue::Timestamp(n)),
                2 => tx.put(obj, name, ScalarValue::F64(n as f64)),
                3 => tx.put(obj, name, ScalarValue::counter(n)),
                _ => tx.put(obj, name, n),
            }
        }
        Field::Bool => tx.put(obj, name, input.below(2) == 0),
        Field::Resident | Field::OptResident => {
            if matches!(field, Field::OptResident) && input.below(3) == 0 {
                return tx.put(obj, name, ScalarValue::Null);
            }
            let r = tx.put_object(obj, name, ObjType::Map)?;
            let hash = match input.below(8) {
                0 => "a".repeat(63),
                1 => "g".repeat(64),
                2 => input.text(70),
                _ => "ab".repeat(32),
            };
            let sealed = input
                .pick(&[
                    "c2VhbGVkIGNvbnRhY3Q=",
                    "c2VhbGVkIGNvbnRhY3Q=",
                    "c2VhbGVkIGNvbnRhY3Q=",
                    "138****5678",
                    "not base64!",
                    "",
                ])
                .unwrap_or("");
            let name_box = input
                .pick(&["Ym94", "Ym94", "李阿姨", "", " ", "a\tb"])
                .unwrap_or("");
            if input.below(12) != 0 {
                put_str(tx, &r, "pseudonym", &hash, input)?;
            }
            if input.below(12) != 0 {
                put_str(tx, &r, "sealed", sealed, input)?;
            }
            match input.below(4) {
                0 => Ok(()),
                1 => tx.put(&r, "name_box", ScalarValue::Null),
                _ => put_str(tx, &r, "name_box", name_box, input),
            }
        }
        Field::Category => {
            let s = input
                .pick(&[
                    "repair",
                    "sanitation",
                    "idea",
                    "other",
                    "Repair",
                    "none",
                    "",
                ])
                .unwrap_or("");
            put_str(tx, obj, name, s, input)
        }
        Field::Action => {
            let s = input
                .pick(&["sign_in", "sign_out", "sign_in", "jump", ""])
                .unwrap_or("");
            put_str(tx, obj, name, s, input)
        }
        Field::Status => {
            let s = input
                .pick(&["received", "in_progress", "resolved", "lost", ""])
                .unwrap_or("");
            put_str(tx, obj, name, s, input)
        }
        Field::Kind => {
            let s = input
                .pick(&["lecture", "health_clinic", "other", "dance", ""])
                .unwrap_or("");
            put_str(tx, obj, name, s, input)
        }
    }
}

/// A string as a scalar (Rust peers) or a Text object (JavaScript peers).
fn put_str(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    name: &str,
    s: &str,
    input: &mut Choices<'_>,
) -> Result<(), AutomergeError> {
    // Text objects cost one op per character: only short ones.
    if input.below(5) == 0 && s.len() <= 40 {
        put_text_object(tx, obj, name, s)
    } else {
        tx.put(obj, name, s)
    }
}

fn put_text_object(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    name: &str,
    s: &str,
) -> Result<(), AutomergeError> {
    let text = tx.put_object(obj, name, ObjType::Text)?;
    tx.splice_text(&text, 0, 0, s)
}

/// A value of any type at all.
fn put_wrong(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    name: &str,
    input: &mut Choices<'_>,
) -> Result<(), AutomergeError> {
    match input.below(12) {
        0 => tx.put(obj, name, ScalarValue::Null),
        1 => tx.put(obj, name, input.below(2) == 1),
        2 => tx.put(obj, name, input.i64()),
        3 => tx.put(obj, name, ScalarValue::Uint(input.i64() as u64)),
        4 => tx.put(
            obj,
            name,
            ScalarValue::F64(f64::from_bits(input.i64() as u64)),
        ),
        5 => tx.put(obj, name, ScalarValue::Bytes(input.bytes(8))),
        6 => tx.put(obj, name, ScalarValue::Timestamp(input.i64())),
        7 => tx.put(obj, name, ScalarValue::counter(input.i64())),
        8 => tx.put_object(obj, name, ObjType::List).map(|_| ()),
        9 => tx.put_object(obj, name, ObjType::Map).map(|_| ()),
        10 => {
            let s = input.text(8);
            put_text_object(tx, obj, name, &s)
        }
        _ => {
            let s = input.text(8);
            tx.put(obj, name, s)
        }
    }
}

// ---------------------------------------------------------------------------
// api_inputs

/// What an [`api_inputs`] request found: a 5xx, a body that failed
/// half-way, or no answer in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFinding(pub String);

impl std::fmt::Display for ApiFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a route takes its body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    None,
    Json,
    Form,
}

/// Every route of the router: method, path (`{1}` and `{2}` are filled
/// from the input), body.
const ROUTES: &[(&str, &str, BodyKind)] = &[
    ("GET", "/healthz", BodyKind::None),
    ("GET", "/readyz", BodyKind::None),
    ("GET", "/metrics", BodyKind::None),
    ("GET", "/api/v1/openapi.json", BodyKind::None),
    ("GET", "/sync", BodyKind::None),
    ("GET", "/api/v1/halls", BodyKind::None),
    ("GET", "/api/v1/halls/{1}/checkins", BodyKind::None),
    ("GET", "/api/v1/halls/{1}/requests", BodyKind::None),
    (
        "POST",
        "/api/v1/halls/{1}/requests/{2}/reply",
        BodyKind::Json,
    ),
    ("GET", "/api/v1/halls/{1}/quarantine", BodyKind::None),
    ("POST", "/api/v1/halls/{1}/kiosks", BodyKind::Json),
    ("GET", "/api/v1/kiosks", BodyKind::None),
    ("POST", "/api/v1/kiosks/{1}/revoke", BodyKind::None),
    ("GET", "/api/v1/kiosk/config", BodyKind::None),
    ("GET", "/admin/login", BodyKind::None),
    ("POST", "/admin/login", BodyKind::Form),
    ("POST", "/admin/logout", BodyKind::Form),
    ("GET", "/admin/lang/{1}", BodyKind::None),
    ("GET", "/admin", BodyKind::None),
    ("GET", "/admin/kiosks", BodyKind::None),
    ("POST", "/admin/kiosks", BodyKind::Form),
    ("POST", "/admin/kiosks/{1}/revoke", BodyKind::Form),
    ("GET", "/admin/requests", BodyKind::None),
    ("GET", "/admin/requests.csv", BodyKind::None),
    ("POST", "/admin/requests/{1}", BodyKind::Form),
    ("GET", "/admin/audit", BodyKind::None),
    ("GET", "/admin/audit.csv", BodyKind::None),
    ("GET", "/m/request", BodyKind::None),
    ("POST", "/m/request", BodyKind::Form),
    ("GET", "/admin/stats", BodyKind::None),
    ("GET", "/admin/volunteers", BodyKind::None),
    ("POST", "/admin/volunteers/catalogue", BodyKind::Form),
    ("GET", "/admin/export.xlsx", BodyKind::None),
    ("GET", "/admin/assets/echarts.min.js", BodyKind::None),
    ("GET", "/admin/calendar", BodyKind::None),
    ("POST", "/admin/calendar/{1}", BodyKind::Form),
    ("POST", "/admin/calendar/{1}/{2}/cancel", BodyKind::Form),
    // Any method and path: the first field is the method, the second the path.
    ("*", "{2}", BodyKind::Form),
];

/// Requests answered by one fixture before a fresh one replaces it, so
/// what earlier inputs created (kiosks, activities, requests) stays small.
const REQUESTS_PER_FIXTURE: u32 = 2_000;

/// A server over a temporary directory with halls, admins, kiosks, console
/// sessions, an activity, a day's ledger and a request.
struct ApiFixture {
    state: AppState,
    /// `(placeholder, value)` substituted in every field of the input.
    ids: Vec<(&'static str, String)>,
    /// Admin API tokens: central, hall staff, viewer.
    tokens: [String; 3],
    /// The kiosk whose token authenticates kiosk requests (never revoked).
    kiosk: (String, String),
    /// Console sessions (cookie, CSRF): central, hall staff, viewer.
    sessions: [(String, String); 3],
    requests: u32,
    _dir: tempfile::TempDir,
}

fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()
    })
    .as_ref()
}

static API: Mutex<Option<ApiFixture>> = Mutex::new(None);

async fn api_fixture() -> linli_sync_engine::Result<ApiFixture> {
    let dir = tempfile::Builder::new()
        .prefix("linli-fuzz-api-")
        .tempdir()
        .map_err(|source| linli_sync_engine::Error::Io {
            context: "making the fuzz fixture's directory".into(),
            source,
        })?;
    let (core, _) = ServerCore::open(dir.path(), Durability::Normal, false).await?;
    provision::add_hall(&core, OWNER_HALL, "先锋社区", "Asia/Shanghai").await?;
    provision::add_hall(&core, "dongfang", "东方社区", "Asia/Shanghai").await?;
    let mut tokens = Vec::new();
    let mut sessions = Vec::new();
    for (user, role) in [
        ("fz-central", "central"),
        ("fz-staff", "hall_staff"),
        ("fz-viewer", "viewer"),
    ] {
        provision::add_admin(&core, user, role).await?;
        core.tables.grant_hall(user, OWNER_HALL).await?;
        tokens.push(provision::admin_token(&core, user).await?);
        sessions.push(signed_in(&core, user).await?);
    }
    // One admin signs in with a password (argon2: slow, so only one).
    provision::add_admin(&core, "fz-login", "hall_staff").await?;
    let hash = linli_sync_engine::accounts::hash_password_async("fuzz-password".into()).await?;
    core.tables.set_admin_password("fz-login", &hash).await?;

    let (kiosk, kiosk_token) = provision::add_kiosk(&core, OWNER_HALL, "大厅入口").await?;
    let (victim, _) = provision::add_kiosk(&core, OWNER_HALL, "二楼").await?;
    let (other, _) = provision::add_kiosk(&core, "dongfang", "东门").await?;

    let now = now_ms();
    let activity = Activity {
        kind: "lecture".into(),
        title: "防诈骗讲座".into(),
        room: Some("二楼".into()),
        starts_at_ms: now - 3_600_000,
        ends_at_ms: now + 3_600_000,
        capacity: Some(50),
        named_checkin: true,
        cancelled: false,
    };
    let activity_id = provision::put_activity(&core, OWNER_HALL, None, activity).await?;

    let shanghai = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let (today, month) = (
        shanghai.format("%Y-%m-%d").to_string(),
        shanghai.format("%Y-%m").to_string(),
    );
    let resident = ResidentRef {
        pseudonym: "ab".repeat(32),
        sealed: core.residents.seal(&linli_core::resident::Contact {
            phone: "13812345678".into(),
            name: Some("李阿姨".into()),
        })?,
        name_box: None,
    };
    let mut day = ledger::new_ledger(OWNER_HALL, &kiosk.id, &today)?;
    ledger::add_checkin(
        &mut day,
        &RecordId::new().to_string(),
        &CheckIn {
            activity_id: activity_id.clone(),
            service: None,
            resident: Some(resident.clone()),
            headcount: 1,
            companions: 2,
            kiosk_id: kiosk.id.clone(),
            at_ms: now - 60_000,
        },
    )?;
    ledger::add_rating(
        &mut day,
        &RecordId::new().to_string(),
        &Rating {
            activity_id: activity_id.clone(),
            score: 4,
            reason: None,
            kiosk_id: kiosk.id.clone(),
            at_ms: now - 50_000,
        },
    )?;
    for (action, at) in [("sign_in", now - 7_200_000), ("sign_out", now - 40_000)] {
        ledger::add_shift_event(
            &mut day,
            &RecordId::new().to_string(),
            &ShiftEvent {
                volunteer: resident.clone(),
                action: action.into(),
                shift_id: "shift-1".into(),
                activity_id: Some(activity_id.clone()),
                kiosk_id: kiosk.id.clone(),
                at_ms: at,
            },
        )?;
    }
    let request_id = RecordId::new().to_string();
    let mut book = requests::new_request_book(OWNER_HALL, &kiosk.id, &month)?;
    requests::add_request(
        &mut book,
        &request_id,
        &ResidentRequest {
            category: "repair".into(),
            text: "三号楼路灯坏了".into(),
            resident: Some(resident),
            callback_consent: true,
            kiosk_id: kiosk.id.clone(),
            at_ms: now - 30_000,
        },
    )?;
    for doc in [day, book] {
        let handle = core.repos.create(OWNER_HALL, doc).await?;
        let (d, k) = (handle.document_id().to_string(), kiosk.id.clone());
        core.tables.claim_doc(&d, OWNER_HALL, &k, now_ms()).await?;
        projection::project_document(&core, handle.document_id()).await?;
    }

    let ids = vec![
        ("$H", OWNER_HALL.to_string()),
        ("$O", "dongfang".to_string()),
        ("$K", victim.id.clone()),
        ("$X", other.id.clone()),
        ("$R", request_id),
        ("$A", activity_id),
        ("$D", today),
        ("$M", month),
    ];
    let [central, staff, viewer] = <[(String, String); 3]>::try_from(sessions)
        .map_err(|_| linli_sync_engine::Error::BadRequest("fixture sessions".into()))?;
    let tokens = <[String; 3]>::try_from(tokens)
        .map_err(|_| linli_sync_engine::Error::BadRequest("fixture tokens".into()))?;
    Ok(ApiFixture {
        state: AppState::new(core),
        ids,
        tokens,
        kiosk: (kiosk.id, kiosk_token),
        sessions: [central, staff, viewer],
        requests: 0,
        _dir: dir,
    })
}

/// A console session for `user`: its cookie value and CSRF token.
async fn signed_in(
    core: &std::sync::Arc<ServerCore>,
    user: &str,
) -> linli_sync_engine::Result<(String, String)> {
    let id = linli_sync_engine::accounts::create_session(&*core.tables, user, now_ms()).await?;
    let s = console::session::lookup(&*core.tables, &id, now_ms()).await?;
    Ok((id, s.map(|s| s.csrf).unwrap_or_default()))
}

fn substitute(field: &[u8], ids: &[(&'static str, String)]) -> Vec<u8> {
    let mut out = field.to_vec();
    for (placeholder, value) in ids {
        let p = placeholder.as_bytes();
        if out.windows(p.len()).any(|w| w == p) {
            let mut replaced = Vec::with_capacity(out.len());
            let mut rest = out.as_slice();
            while let Some(i) = rest.windows(p.len()).position(|w| w == p) {
                replaced.extend_from_slice(&rest[..i]);
                replaced.extend_from_slice(value.as_bytes());
                rest = &rest[i + p.len()..];
            }
            replaced.extend_from_slice(rest);
            out = replaced;
        }
    }
    out
}

/// Percent-encode everything but unreserved characters (a path segment).
fn encode_segment(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Keep what a query may carry as it is (so malformed escapes reach the
/// server), percent-encode the rest.
fn encode_query(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'#' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// One HTTP request from the bytes, through the real router on a server
/// built once per process (and rebuilt every few thousand requests).
///
/// Layout: byte 0 picks the route; byte 1 the credentials (low 3 bits:
/// none, the central / hall-staff / viewer API token, the kiosk token, or
/// the central / hall-staff / viewer console session; `0x08` spoils them,
/// `0x10` asks for English, `0x20` leaves the CSRF token out of forms,
/// `0x40` sends a protocol version the server does not speak, `0x80` a
/// wrong content type). Then, separated by newlines: the first and second
/// path parameter, the query string, and the body. `$H` (the hall), `$O`
/// (another hall), `$K` (a kiosk of the hall), `$X` (a kiosk of the other
/// hall), `$R` (a request), `$A` (an activity), `$D` (today) and `$M`
/// (this month) are replaced by real ones. The second parameter is also
/// sent as `Referer` and `Host`.
///
/// `Err` for a 5xx answer, a body that fails half-way or no answer within
/// 20 s; a panic in a handler propagates.
pub fn api_inputs(data: &[u8]) -> Result<(), ApiFinding> {
    let Some(rt) = runtime() else {
        return Ok(());
    };
    let mut guard = API.lock().unwrap_or_else(|p| p.into_inner());
    if guard
        .as_ref()
        .is_none_or(|f| f.requests >= REQUESTS_PER_FIXTURE)
    {
        if let Some(old) = guard.take() {
            rt.block_on(old.state.core.stop());
        }
        match rt.block_on(api_fixture()) {
            Ok(f) => *guard = Some(f),
            Err(e) => return Err(ApiFinding(format!("building the fixture: {e}"))),
        }
    }
    let Some(fixture) = guard.as_mut() else {
        return Ok(());
    };
    fixture.requests += 1;
    let Some(req) = build_request(fixture, rt, data) else {
        return Ok(());
    };
    let what = format!("{} {}", req.method(), req.uri());
    let app = router(fixture.state.clone());
    rt.block_on(async move {
        let resp = tokio::time::timeout(Duration::from_secs(20), app.oneshot(req))
            .await
            .map_err(|_| ApiFinding(format!("{what}: no answer within 20 s")))?
            .map_err(|e| ApiFinding(format!("{what}: {e}")))?;
        let status = resp.status();
        let body = tokio::time::timeout(
            Duration::from_secs(20),
            axum::body::to_bytes(resp.into_body(), 256 * 1024 * 1024),
        )
        .await
        .map_err(|_| ApiFinding(format!("{what}: body not finished within 20 s")))?
        .map_err(|e| ApiFinding(format!("{what} -> {status}: body failed: {e}")))?;
        if status.is_server_error() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            return Err(ApiFinding(format!("{what} -> {status}: {text}")));
        }
        Ok(())
    })
}

fn build_request(
    fixture: &ApiFixture,
    rt: &tokio::runtime::Runtime,
    data: &[u8],
) -> Option<Request<Body>> {
    let (&route, rest) = data.split_first()?;
    let (&auth_byte, rest) = rest.split_first().unwrap_or((&0, &[]));
    let (method, template, body_kind) = ROUTES[usize::from(route) % ROUTES.len()];
    let mut fields = rest.splitn(4, |b| *b == b'\n');
    let mut next = || substitute(fields.next().unwrap_or_default(), &fixture.ids);
    let (p1, p2, query, body) = (next(), next(), next(), next());

    let (method, path) = if method == "*" {
        let m = Method::from_bytes(&p1).unwrap_or(Method::GET);
        let path = encode_query(&p2);
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        (m, path)
    } else {
        // Revoking the kiosk whose token the harness uses would only blind
        // the inputs after it.
        if template.contains("revoke") && p1 == fixture.kiosk.0.as_bytes() {
            return None;
        }
        let path = template
            .replace("{1}", &encode_segment(&p1))
            .replace("{2}", &encode_segment(&p2));
        (Method::from_bytes(method.as_bytes()).ok()?, path)
    };
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", encode_query(&query))
    };

    // A fresh client address per request: the wrong-token limit is
    // per address, and one address blocked would hide every route.
    let [_, a, b, c] = fixture.requests.to_be_bytes();
    let addr = std::net::SocketAddr::from(([10, a, b, c], 40_000));
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .extension(axum::extract::ConnectInfo(addr));
    let spoil = auth_byte & 0x08 != 0;
    let mut csrf = None;
    let mut cookies = Vec::new();
    let bearer = |t: &str| {
        if spoil {
            format!("Bearer {}x", t)
        } else {
            format!("Bearer {t}")
        }
    };
    match auth_byte & 0x07 {
        0 => {}
        n @ 1..=3 => {
            let token = &fixture.tokens[usize::from(n - 1)];
            req = req.header(header::AUTHORIZATION, bearer(token));
        }
        4 => req = req.header(header::AUTHORIZATION, bearer(&fixture.kiosk.1)),
        n => {
            let (cookie, token) = if template == "/admin/logout" && !spoil {
                // Signing out ends the session: use one made for it.
                let user = ["fz-central", "fz-staff", "fz-viewer"][usize::from(n - 5)];
                rt.block_on(signed_in(&fixture.state.core, user)).ok()?
            } else {
                fixture.sessions[usize::from(n - 5)].clone()
            };
            let cookie = if spoil { format!("{cookie}0") } else { cookie };
            cookies.push(format!("{}={cookie}", console::session::COOKIE));
            csrf = Some(token);
        }
    }
    if auth_byte & 0x10 != 0 {
        cookies.push("linli_lang=en".into());
    }
    if !cookies.is_empty() {
        req = req.header(header::COOKIE, cookies.join("; "));
    }
    if auth_byte & 0x40 != 0 {
        req = req.header(PROTOCOL_HEADER, "2");
    }
    if let Ok(v) = HeaderValue::from_bytes(&p2)
        && !p2.is_empty()
    {
        req = req
            .header(header::REFERER, v.clone())
            .header(header::HOST, v);
    }

    let mut body = body;
    if body_kind == BodyKind::Form
        && auth_byte & 0x20 == 0
        && let Some(token) = csrf
    {
        let mut with = format!("csrf={token}&").into_bytes();
        with.extend_from_slice(&body);
        body = with;
    }
    let content_type = match (body_kind, auth_byte & 0x80 != 0) {
        (BodyKind::None, _) => None,
        (_, true) => Some("text/plain"),
        (BodyKind::Json, false) => Some("application/json"),
        (BodyKind::Form, false) => Some("application/x-www-form-urlencoded"),
    };
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req.body(Body::from(body)).ok()
}

/// Stop the [`api_inputs`] server and delete its directory (the replay
/// test calls this when done; a fuzz run just exits).
pub fn api_inputs_shutdown() {
    let mut guard = API.lock().unwrap_or_else(|p| p.into_inner());
    if let (Some(f), Some(rt)) = (guard.take(), runtime()) {
        rt.block_on(f.state.core.stop());
    }
}

// ---------------------------------------------------------------------------
// config_files

/// The bytes as the server's configuration file (read and resolved as
/// `linli-server --config FILE serve` does), as the kiosk configuration
/// JSON a kiosk stores at pairing (and what it derives from it: phone key,
/// time zone, document URLs, peer ids), and as a server address typed at
/// pairing.
pub fn config_files(data: &[u8]) {
    static DIR: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    static FILE: Mutex<()> = Mutex::new(());
    if let Some(dir) = DIR.get_or_init(|| tempfile::tempdir().ok()).as_ref() {
        let _one_at_a_time = FILE.lock().unwrap_or_else(|p| p.into_inner());
        let path = dir.path().join("linli.toml");
        if std::fs::write(&path, data).is_ok() {
            let args = [
                std::ffi::OsStr::new("linli-server"),
                std::ffi::OsStr::new("--config"),
                path.as_os_str(),
                std::ffi::OsStr::new("serve"),
            ];
            if let Ok(c) = <cli::Cli as clap::Parser>::try_parse_from(args)
                && let cli::Command::Serve(serve) = &c.command
            {
                let _ = cli::resolve_serve(&c, serve);
            }
        }
    }

    if let Ok(config) = serde_json::from_slice::<KioskConfig>(data) {
        kiosk_uses(&config);
    }

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(server) = url::Url::parse(text.trim())
    {
        let _ = protocol::sync_url(&server);
        if let Ok(base) = protocol::http_base(&server) {
            let _ = base.join("api/v1/kiosk/config");
        }
    }
}

/// What a kiosk does with its stored configuration when it opens.
fn kiosk_uses(c: &KioskConfig) {
    let _ = format!("{c:?}");
    if let Some(identity) = &c.identity {
        let _ = linli_core::resident::Pseudonymizer::from_hex(&identity.salt);
        let _ = linli_core::resident::SealingKey::from_hex(&identity.seal_key);
    }
    let _ = chrono_tz::Tz::from_str(&c.tz);
    for url in [&c.calendar_url, &c.directory_url] {
        if let Ok(u) = samod::AutomergeUrl::from_str(url) {
            let _ = u.document_id().to_string();
        }
    }
    let _ = samod::PeerId::from(c.server_peer_id.clone());
    let _ = samod::PeerId::from(protocol::kiosk_peer_id(&c.kiosk_id));
    let _ = HallId::new(c.hall_id.as_str());
    let _ = KioskId::new(c.kiosk_id.as_str());
    let key = directory::entry_key(DocKind::Ledger, &c.kiosk_id, "2026-11-23");
    let _ = directory::parse_entry_key(&key);
    let _ = serde_json::to_string(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_every_placeholder() {
        let ids = vec![("$H", "xianfeng".to_string())];
        assert_eq!(substitute(b"a=$H&b=$H", &ids), b"a=xianfeng&b=xianfeng");
        assert_eq!(encode_segment("a b/先".as_bytes()), "a%20b%2F%E5%85%88");
        assert_eq!(encode_query(b"a=%zz b#"), "a=%zz%20b%23");
    }

    #[test]
    fn garbage_is_harmless() {
        for data in [&b""[..], b"\x00", b"\xff\xff\xff", b"{}", b"[", b"a = 1"] {
            sync_message(data);
            document(data);
            document_fields(data);
            config_files(data);
        }
    }
}
