//! A real PostgreSQL server for tests ([`TestPostgres`]): Debian's
//! `postgresql` package (installed by `scripts/install-system-deps.sh`),
//! a new cluster `initdb`'d into a temporary directory, listening on a
//! free loopback port only (no Unix socket outside its directory), and
//! stopped, its files removed, when dropped.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the
//! cluster is made and run by the unprivileged `postgres` account the
//! package creates (`runuser`); otherwise by the user running the tests.
//! The cluster trusts loopback connections of its superuser `linli`: it
//! lives as long as one test and holds nothing but test data.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use anyhow::{Context, bail};

/// The superuser of a test cluster.
pub const USER: &str = "linli";

/// The account that runs PostgreSQL when the tests run as root.
const SERVICE_ACCOUNT: &str = "postgres";

/// A PostgreSQL cluster of this test's own.
pub struct TestPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_service_account: bool,
    durable: bool,
    _dir: tempfile::TempDir,
}

/// Where Debian keeps the server's programs (`initdb`, `pg_ctl`): on the
/// `PATH`, or the newest `/usr/lib/postgresql/<version>/bin`.
fn server_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                // Where the programs really are (a link on the PATH may
                // stand for initdb alone), so that pg_dump is found too.
                return Ok(std::fs::canonicalize(dir.join("initdb"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .unwrap_or(dir));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").is_file().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed: \
         run scripts/install-system-deps.sh (Debian package postgresql)",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A port nobody listens on now (PostgreSQL binds it a moment later; a
/// start that loses the race is tried again on another).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl TestPostgres {
    /// Make a cluster in a new temporary directory and start it, with
    /// fsync off (a test's data dies with it).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(false)
    }

    /// [`TestPostgres::start`] with fsync on, as a production database
    /// commits: for benchmarks beside the SQLite store's full sync.
    pub fn start_durable() -> anyhow::Result<Self> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> anyhow::Result<Self> {
        let bin = server_bin()?;
        let as_service_account = is_root();
        let dir = tempfile::Builder::new().prefix("linli-pg-").tempdir()?;
        let data = dir.path().join("data");
        if as_service_account {
            // The service account must own the directory the cluster is in.
            let status = Command::new("chown")
                .args([SERVICE_ACCOUNT, &dir.path().display().to_string()])
                .status()
                .context("chown")?;
            if !status.success() {
                bail!("chown {SERVICE_ACCOUNT} {} failed", dir.path().display());
            }
        }
        let mut pg = Self {
            bin,
            data,
            port: 0,
            as_service_account,
            durable,
            _dir: dir,
        };
        let data = pg.data.display().to_string();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let mut last = None;
        for _ in 0..5 {
            pg.port = free_port()?;
            match pg.start_server() {
                Ok(()) => return Ok(pg),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("PostgreSQL did not start")))
    }

    /// Run one of the server's programs as the cluster's owner.
    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_service_account {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVICE_ACCOUNT, "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir("/")
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// Database `db` as `pg_dump` writes it in its plain form: what an
    /// operator's backup of it holds.
    pub fn dump(&self, db: &str) -> anyhow::Result<Vec<u8>> {
        let port = self.port.to_string();
        Ok(self
            .run(
                "pg_dump",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    USER,
                    "--no-password",
                    db,
                ],
            )?
            .stdout)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A connection URL for database `db` (create it with
    /// [`TestPostgres::create_database`]; `postgres` always exists).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Create database `db` (through `psql`-free SQL over a connection to
    /// `postgres`).
    pub async fn create_database(&self, db: &str) -> anyhow::Result<String> {
        let (client, conn) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await?;
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE \"{db}\""))
            .await
            .with_context(|| format!("creating database {db}"))?;
        drop(client);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        Ok(self.url(db))
    }

    /// Stop the server at once, as a crash would (`pg_ctl -m immediate`);
    /// [`TestPostgres::restart`] starts it again on the same port.
    pub fn crash(&self) -> anyhow::Result<()> {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .map(|_| ())
    }

    /// Start it again after [`TestPostgres::crash`], on the same port.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.start_server()
    }

    /// `pg_ctl start` on [`TestPostgres::port`], waiting until it accepts
    /// connections; loopback only.
    fn start_server(&self) -> anyhow::Result<()> {
        let data = self.data.display().to_string();
        let fsync = if self.durable { "on" } else { "off" };
        // Room for several instances (18 connections each) and the
        // in-process servers of a long benchmark run.
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' -c fsync={fsync} \
             -c max_connections=400",
            self.port, data
        );
        let log = format!("{data}/server.log");
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "30", "start",
            ],
        )
        .map(|_| ())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}
