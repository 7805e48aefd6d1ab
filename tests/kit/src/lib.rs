//! # linli-test-kit
//!
//! What Linli's tests, benchmarks and fuzz targets share, kept out of the
//! production crates: one way to start a server, pair a kiosk or seat the
//! usual halls and admins, instead of a setup per test file.
//!
//! # Layout
//! - [`server`]: [`TestServer`], a real `linli-server` on `127.0.0.1:0` in
//!   this process (dropping it stops the server and removes its files);
//!   [`Api`], a client of its JSON API; a console sign-in; [`eventually`].
//! - [`kiosk`]: [`TestKiosk`], a paired kiosk node on its own temp dir;
//!   [`RawPeer`], a bare samod peer with a kiosk token.
//! - [`fixture`]: [`Fixture`], a server core and its router without
//!   sockets, seated with the halls and the admins of every role.
//! - [`postgres`]: [`TestPostgres`], a real PostgreSQL cluster of the
//!   test's own in a temporary directory, on a free loopback port.
//! - [`balancer`]: [`Balancer`], a real HAProxy in front of several
//!   instances on one database.
//! - [`sql`]: plain SQL on whichever store a server keeps, for snapshots
//!   and seeds no interface makes.
//! - [`tables`]: the contract every store of the server's own tables
//!   keeps, run against SQLite and PostgreSQL alike.
//! - [`harness`]: one function per cargo-fuzz target (`fuzz/`), each
//!   taking arbitrary bytes the way a kiosk or a browser could send them
//!   and driving the server's own code; `tests/fuzz_corpus.rs` replays
//!   every saved input on stable.

pub mod balancer;
pub mod fixture;
pub mod harness;
pub mod kiosk;
pub mod postgres;
pub mod projection;
pub mod routes;
pub mod server;
pub mod sql;
pub mod tables;

pub use balancer::Balancer;
pub use fixture::Fixture;
pub use kiosk::{RawPeer, TestKiosk, test_options, test_phone};
pub use postgres::TestPostgres;
pub use server::{
    Api, Store, TestOutcome, TestServer, console_session, eventually, init_logging, open_activity,
};
