//! # linli-core
//!
//! The heart of Linli shared by the kiosk and the sync server: the domain
//! model of a community service hall, the Automerge documents that carry it,
//! the SQLite store those documents live in, and [`KioskNode`], the headless
//! kiosk that records offline and syncs when the network returns.
//!
//! No UI, no HTTP server, no configuration files: callers pass typed
//! parameters.
//!
//! # Layout
//! - [`error`]: the crate's one error type.
//! - [`ids`]: hall, kiosk and record identifiers and their validation.
//! - [`phone`]: mainland mobile numbers and their masked form.
//! - [`resident`]: residents' identity: the slow pseudonym a kiosk matches
//!   offline, the name box, and contacts sealed to the server (cost model).
//! - [`model`]: activities, check-ins, ratings, requests, volunteer shifts.
//! - [`points_rules`]: how volunteers earn points and what a kiosk holds of
//!   them (the rules the central admin sets, versioned).
//! - [`docs`]: typed read/write of the four document kinds (hall calendar,
//!   hall directory, kiosk day ledger, kiosk request book).
//! - [`sqlite`]: opening SQLite files (WAL, durability) and migrations.
//! - [`storage`]: samod's `Storage` over SQLite (WAL, one transaction per put).
//! - [`protocol`]: what kiosk and server say to each other outside Automerge
//!   sync (kiosk configuration, protocol version, tokens).
//! - [`pairing_link`]: the console's pairing link (server, token, the CA's
//!   fingerprint) as a kiosk reads it.
//! - [`node`]: [`KioskNode`], its write-ahead journal, dialer and sync status.
//! - [`stats`]: statistics over records (person-times, satisfaction).
//! - [`tls`]: which servers a kiosk trusts over https/wss (optional pinned CA,
//!   or one found by the fingerprint a pairing link carries).

pub mod docs;
pub mod error;
pub mod escrow;
pub mod group_commit;
pub mod ids;
pub mod model;
pub mod node;
pub mod pairing_link;
pub mod phone;
pub mod points_rules;
pub mod protocol;
pub mod resident;
pub mod sqlite;
pub mod stats;
pub mod storage;
pub mod tls;

pub use error::{Error, Result};
pub use node::{KioskNode, KioskNodeOptions, SyncStatus};
