//! # linli-tests
//!
//! Scenarios across the server and kiosks, on real sockets on 127.0.0.1
//! and real SQLite files in temp dirs, plus the `linli-sim` load tool and
//! the `linli-bench` benchmarks.
//!
//! The servers, kiosks and fixtures these scenarios run on come from the
//! shared test kit (`linli-test-kit`).
//!
//! # Layout
//! - [`disk`]: searching copied disks for what must not be there.
//! - [`seed`]: projected rows written straight into a server's database.
//! - [`fault`]: the seeded fault runner (processes, proxies, schedules).
//! - [`failover`]: several instances behind HAProxy, the hall's holder
//!   killed during a burst.
//! - [`tables_bench`]: the server's own tables on SQLite and PostgreSQL.
//! - [`soak`]: many kiosks for a long time; server memory over time.
//! - [`versus`] and [`connected`]: linli-server beside the Node.js sync
//!   server, kiosks reconnecting with whole ledgers and kiosks writing
//!   while connected.

pub mod browser;
pub mod connected;
pub mod console_bench;
pub mod disk;
pub mod failover;
pub mod fault;
pub mod many;
pub mod raw_wire;
pub mod seed;
pub mod soak;
pub mod tables_bench;
pub mod versus;
pub mod years;
