//! # linli-sync-engine
//!
//! What the street office's server does with kiosks' documents, whatever
//! carries them: one samod repo per hall over the server's store, the
//! screening of what a kiosk may deliver, the projection of documents into
//! tables, provisioning (halls, kiosks, admins, the calendar), a
//! resident's erasure and the replacement of documents it needs.
//!
//! Nothing here speaks HTTP but [`Error`], which says how each failure is
//! told to a client; the web crate (`linli-web`) serves this engine and the
//! `linli-server` binary runs both. Dependencies point inward: this crate
//! knows neither.
//!
//! # Layout (lower modules first; none uses one listed after it)
//! - [`error`], [`clock`], [`limits`], [`auth`], [`wire`], [`registry`]:
//!   leaves.
//! - [`db`]: the server's SQLite file: its own tables and the
//!   projection's connection.
//! - [`documents`]: [`documents::DocumentStore`], the documents (samod's
//!   storage) on SQLite or PostgreSQL.
//! - [`tables`]: [`tables::ServerTables`], the server's own tables (halls,
//!   kiosks, admins, sessions, audit, document ownership) behind one
//!   interface, on SQLite or PostgreSQL.
//! - [`projection_schema`]: the projection's tables as SQL.
//! - [`accounts`]: admins' passwords and console sessions.
//! - [`residents`]: the residents' key pair and salt; opening sealed
//!   contacts.
//! - [`intake`]: what a kiosk's sync message may carry.
//! - [`cluster`]: several instances on one database: hall leases, the
//!   fence, who serves which hall ([`cluster::HallLeases`]).
//! - [`relay`]: dialling another instance (a holder's peer endpoint, or
//!   its `/sync` for a piped kiosk).
//! - [`repos`]: one samod repo per hall in use (its holder's, or a relay
//!   to the instance that holds it); idle halls unloaded.
//! - [`erasure_watch`]: the residents erased lately whose records may
//!   still arrive.
//! - [`projection_tables`]: [`projection_tables::ProjectionTables`], what
//!   the projection writes and the reads made of it (the API's, the
//!   console's, an erasure's), on SQLite or PostgreSQL.
//! - [`server`]: [`ServerCore`], which holds all of the above.
//! - [`projection`]: documents → SQL tables, incrementally; rebuild.
//! - [`provision`]: halls, kiosks, admins, tokens, server-side edits.
//! - [`credit`]: the points each volunteer shift earned under its hall's
//!   rules; [`points`]: the grants and shares behind redeeming them.
//! - [`replace`]: replacing kiosk documents by rebuilt ones.
//! - [`erasure`]: erasing one resident on request.
//! - [`upgrade`]: converting a database of the old resident form in place.
//! - [`projector`]: the task that projects documents as they change and
//!   erases late arrivals of erased residents.
//! - [`tasks`]: the server's other background work (revocations, idle
//!   halls, catching up the projection).
//! - [`backup`]: online backup, restore, the running server's lock.

pub mod accounts;
pub mod auth;
pub mod backup;
pub mod clock;
pub mod cluster;
pub mod counters;
pub mod credit;
pub mod db;
pub mod documents;
pub mod erasure;
mod erasure_watch;
mod error;
pub mod intake;
pub mod limits;
pub mod points;
pub mod projection;
pub mod projection_schema;
pub mod projection_tables;
mod projector;
pub mod provision;
mod random;
pub mod registry;
pub mod relay;
mod replace;
pub mod repos;
pub mod residents;
pub mod server;
pub mod tables;
pub mod tasks;
pub mod upgrade;
pub mod wire;

pub use error::{Error, Result};
pub use server::ServerCore;
