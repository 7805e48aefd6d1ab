//! The `linli-server` command line. Settings come from defaults, then a
//! TOML file (`--config` / `LINLI_CONFIG`), then `LINLI_*` environment
//! variables, then flags. Commands print what scripts need on their last
//! line (a new kiosk's token, an admin token) and exit non-zero on failure.

use std::{io::Write, net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};
use linli_core::sqlite::Durability;
use serde::Deserialize;

use crate::ServeConfig;
use linli_sync_engine::{Error, Result, projection, provision, server::ServerCore};

/// Default data directory, when no configuration file names one.
pub const DEFAULT_DATA_DIR: &str = "./linli-data";
/// The configuration file read when none is named: the one the Debian
/// package installs, so an operator's `sudo -u linli linli-server admin …`
/// works on the installed server's data without repeating `--config`.
pub const SYSTEM_CONFIG: &str = "/etc/linli/server.toml";
/// The data directory the Debian package's configuration names.
pub const PACKAGED_DATA_DIR: &str = "/var/lib/linli";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// Linli sync server: kiosks sync here; admins read and export from here.
#[derive(Parser, Debug)]
#[command(
    name = "linli-server",
    version,
    long_about = None,
    after_long_help = "Files:\n  /etc/linli/server.toml  the configuration read when --config and LINLI_CONFIG \
                       name none (written by `linli-server print-config`)\n  \
                       /var/lib/linli  the packaged server's data directory (the SQLite file and the \
                       residents' key file); run commands on it as its owner: \
                       sudo -u linli linli-server …"
)]
pub struct Cli {
    /// Data directory holding the server's SQLite file.
    #[arg(long, global = true, env = "LINLI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file (see `linli-server print-config`); default
    /// /etc/linli/server.toml when it exists.
    #[arg(long, global = true, env = "LINLI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Keep everything in this PostgreSQL database instead of the SQLite
    /// file in the data directory: postgres://USER@HOST/DB. Several
    /// instances may share one (run each behind one load balancer).
    #[arg(
        long,
        global = true,
        env = "LINLI_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// How log lines are written to stderr: `text` for people, `json`
    /// (one object a line) for log shippers.
    #[arg(
        long,
        global = true,
        env = "LINLI_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line (time, level, target, message, fields).
    Json,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: sync endpoint, JSON API.
    Serve(ServeArgs),
    /// Manage halls.
    #[command(subcommand)]
    Hall(HallCommand),
    /// Manage kiosks.
    #[command(subcommand)]
    Kiosk(KioskCommand),
    /// Manage admins.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Residents' personal data.
    #[command(subcommand)]
    Resident(ResidentCommand),
    /// Re-create the projection tables from the documents.
    RebuildProjection,
    /// Convert a database written before residents were pseudonyms (Linli
    /// 0.1: keyed phone hashes beside masked numbers) in place: every
    /// resident becomes a pseudonym with a sealed contact, every document
    /// that held the old form is replaced. Stop the server first.
    UpgradeResidents,
    /// Copy the database to FILE while the server runs (consistent
    /// snapshot). The residents' key file is not in it: keep it apart.
    Backup {
        /// Where to write the backup (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the database with a backup (stop the server first; the
    /// current database is kept beside it).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
    /// Print an example configuration file, every key commented (with
    /// `--data-dir`, naming that data directory).
    PrintConfig,
    /// Write the manual pages (roff) of linli-server and each of its
    /// commands into a directory: the Debian package's are made this way.
    #[command(hide = true)]
    GenerateMan {
        /// The directory to write linli-server.1, linli-server-serve.1, ….
        #[arg(long)]
        out: PathBuf,
    },
    /// HTTPS for an office with no public certificate.
    #[command(subcommand)]
    Tls(TlsCommand),
}

/// `tls` commands.
#[derive(Subcommand, Debug)]
pub enum TlsCommand {
    /// Make an office CA and a server certificate it issues (never
    /// overwriting a file), and print how to serve with them and what to
    /// give the kiosks.
    Init {
        /// Where to write office-ca.pem, office-ca.key, server.crt, server.key.
        #[arg(long)]
        out: PathBuf,
        /// A name kiosks reach the server by: a host name or an IP address
        /// (repeat for several).
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// The office, as the CA's name shows it.
        #[arg(long, default_value = "Street office")]
        office: String,
    },
}

/// `serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LINLI_LISTEN")]
    pub listen: Option<String>,
    /// Create demo halls with a week of activities if there are none.
    #[arg(long, env = "LINLI_DEMO")]
    pub demo: bool,
    /// Serve HTTPS/WSS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "LINLI_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM); needs --tls-cert.
    #[arg(long, env = "LINLI_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a hall's documents stay in memory after the last use
    /// (default 180).
    #[arg(long, env = "LINLI_UNLOAD_IDLE_AFTER")]
    pub unload_idle_after: Option<u64>,
    /// Reverse proxies (IP addresses or CIDR blocks, comma-separated) whose
    /// X-Forwarded-For names the client for per-address limits (default:
    /// none; the TCP peer is the client).
    #[arg(long, env = "LINLI_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// With several instances on one PostgreSQL: the address the other
    /// instances reach this one at, e.g. http://10.0.0.5:7878 (default:
    /// the listen address, when it is not 0.0.0.0 or [::]).
    #[arg(long, env = "LINLI_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
}

/// `hall` commands.
#[derive(Subcommand, Debug)]
pub enum HallCommand {
    /// Add a hall (with its calendar and directory documents).
    Add {
        /// Id: a-z, 0-9 and '-', e.g. xianfeng.
        #[arg(long)]
        id: String,
        /// Display name, e.g. 先锋社区党群服务中心.
        #[arg(long)]
        name: String,
        /// IANA time zone.
        #[arg(long, default_value = "Asia/Shanghai")]
        tz: String,
    },
    /// List halls.
    List,
}

/// `kiosk` commands.
#[derive(Subcommand, Debug)]
pub enum KioskCommand {
    /// Provision a kiosk; prints its token as the last line (shown once).
    Add {
        /// The hall's id.
        #[arg(long)]
        hall: String,
        /// Display name, e.g. 大厅入口.
        #[arg(long)]
        name: String,
    },
    /// List kiosks.
    List,
    /// Revoke a kiosk's token; a running server disconnects it within a second.
    Revoke {
        /// The kiosk's id.
        id: String,
    },
}

/// `resident` commands.
#[derive(Subcommand, Debug)]
pub enum ResidentCommand {
    /// Erase one resident on their request: every document that holds them
    /// is rebuilt without them (counts and statistics stay), and the halls'
    /// kiosks delete their copies at their next sync. Run it with the
    /// server stopped, or use the console's erase page while it runs.
    Erase {
        /// Their 11-digit mobile number.
        #[arg(long)]
        phone: String,
    },
}

/// `admin` commands.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Add an admin user.
    Add {
        /// User name.
        #[arg(long)]
        user: String,
        /// central, hall_staff or viewer.
        #[arg(long, default_value = "central")]
        role: String,
    },
    /// Issue an API token for an admin; prints it as the last line.
    Token {
        /// User name.
        #[arg(long)]
        user: String,
    },
    /// Set an admin's console password: asked twice without echo on a
    /// terminal, else read from the first line of stdin; signs that admin
    /// out of every console session.
    Password {
        /// User name.
        #[arg(long)]
        user: String,
    },
    /// Give a hall-staff admin or viewer access to a hall.
    Grant {
        /// User name.
        #[arg(long)]
        user: String,
        /// The hall's id.
        #[arg(long)]
        hall: String,
    },
    /// Take a hall from a hall-staff admin or viewer.
    Ungrant {
        /// User name.
        #[arg(long)]
        user: String,
        /// The hall's id.
        #[arg(long)]
        hall: String,
    },
    /// Remove an admin: their API tokens, console sessions and hall grants
    /// go with them (the audit log keeps their name). The last central
    /// admin cannot be removed.
    Remove {
        /// User name.
        #[arg(long)]
        user: String,
    },
    /// Revoke an admin API token (a running server refuses it at once):
    /// the one given, or every token of an admin.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["token", "user"])))]
    RevokeToken {
        /// The token itself (la_…), as it was shown.
        #[arg(long)]
        token: Option<String>,
        /// Every live token of this admin.
        #[arg(long)]
        user: Option<String>,
    },
}

/// The configuration file's contents.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL database instead of the SQLite file.
    pub database_url: Option<String>,
    /// Listen address.
    pub listen: Option<String>,
    /// Create demo data.
    pub demo: Option<bool>,
    /// `full` or `normal`.
    pub durability: Option<String>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Seconds a hall's documents stay in memory after the last use.
    pub unload_idle_after: Option<u64>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<Vec<String>>,
    /// Where the other instances on the same database reach this one.
    pub advertise_url: Option<String>,
}

/// An example configuration file.
pub const EXAMPLE_CONFIG: &str = r#"# linli-server configuration. Every setting may also be given as a
# LINLI_* environment variable or a command-line flag, which win over this file.
data_dir = "./linli-data"
# Keep everything in PostgreSQL instead of the SQLite file in data_dir
# (several instances may share one database; data_dir still holds each
# instance's copy of the residents' key file).
# database_url = "postgres://linli@db.example/linli"
listen = "127.0.0.1:7878"
# With several instances on one database: where the others reach this one
# (default: the listen address, unless it is 0.0.0.0 or [::]).
# advertise_url = "http://10.0.0.5:7878"
# Create the demo halls when the server has none.
demo = false
# "full": a commit survives a power cut. "normal": faster, survives a crash.
durability = "full"
# Serve HTTPS and WSS (kiosks then use https:// server addresses).
# tls_cert = "/etc/linli/server.crt"
# tls_key = "/etc/linli/server.key"
# Seconds a hall's documents stay in memory once its kiosks have gone.
unload_idle_after = 180
# Reverse proxies (addresses or CIDR blocks) whose X-Forwarded-For header
# names the client; leave empty unless a proxy forwards to this server.
trusted_proxies = []
# trusted_proxies = ["127.0.0.1", "::1", "10.0.0.0/8"]
"#;

/// `print-config`'s text: [`EXAMPLE_CONFIG`], naming `data_dir` when given
/// (the package writes its default configuration so).
pub fn example_config(data_dir: Option<&std::path::Path>) -> String {
    let Some(dir) = data_dir else {
        return EXAMPLE_CONFIG.to_string();
    };
    let quoted = toml::Value::String(dir.display().to_string()).to_string();
    EXAMPLE_CONFIG.replacen(
        &format!("data_dir = \"{DEFAULT_DATA_DIR}\""),
        &format!("data_dir = {quoted}"),
        1,
    )
}

/// The configuration file in effect: the one named, else the system one
/// if it exists, else none.
pub fn config_path(cli: &Cli) -> Option<PathBuf> {
    cli.config.clone().or_else(|| {
        let system = PathBuf::from(SYSTEM_CONFIG);
        system.is_file().then_some(system)
    })
}

fn load_file(cli: &Cli) -> Result<FileConfig> {
    let Some(path) = config_path(cli) else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        context: format!("reading the configuration {}", path.display()),
        source,
    })?;
    toml::from_str(&text)
        .map_err(|e| Error::BadRequest(format!("configuration {}: {e}", path.display())))
}

/// Refuse root working on a data directory another user owns: the files
/// root would create there (a new SQLite file, its journal, the residents'
/// key file) could not be written by the service afterwards, and the
/// server would stop on its next write. Ownership is compared with the
/// owner of `/proc/self`, which is this process's effective user.
fn refuse_root_on_others_data(data_dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Ok(dir)) = (std::fs::metadata("/proc/self"), std::fs::metadata(data_dir)) else {
        return Ok(());
    };
    if me.uid() == 0 && dir.uid() != 0 {
        return Err(Error::Config(format!(
            "the data directory {} belongs to user id {}, and this is root: files root made \
             there would stop the server from writing them. Run the command as the \
             directory's owner, e.g. `sudo -u linli linli-server …` for the packaged server",
            data_dir.display(),
            dir.uid()
        )));
    }
    Ok(())
}

/// The settings `serve` runs with, resolved from every layer.
pub fn resolve_serve(cli: &Cli, args: &ServeArgs) -> Result<(ServeConfig, SocketAddr)> {
    let file = load_file(cli)?;
    let data_dir = cli
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    refuse_root_on_others_data(&data_dir)?;
    let listen = args
        .listen
        .clone()
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listen: SocketAddr = listen.parse().map_err(|_| {
        Error::BadRequest(format!(
            "listen address {listen:?} is not host:port, e.g. 127.0.0.1:7878"
        ))
    })?;
    let durability = match file.durability.as_deref() {
        None | Some("full") => Durability::Full,
        Some("normal") => Durability::Normal,
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "durability must be \"full\" or \"normal\", got {other:?}"
            )));
        }
    };
    let tls = match (
        args.tls_cert.clone().or(file.tls_cert),
        args.tls_key.clone().or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(linli_web::tls::TlsFiles { cert, key }),
        (None, None) => None,
        _ => {
            return Err(Error::BadRequest(
                "TLS needs both a certificate (tls_cert) and a key (tls_key)".into(),
            ));
        }
    };
    let trusted_proxies = linli_web::proxies::TrustedProxies::parse(
        &args
            .trusted_proxies
            .clone()
            .or(file.trusted_proxies)
            .unwrap_or_default(),
    )?;
    Ok((
        ServeConfig {
            data_dir,
            database_url: database_url(cli)?,
            demo: args.demo || file.demo.unwrap_or(false),
            durability,
            tls,
            unload_idle_after: args.unload_idle_after.or(file.unload_idle_after).map_or(
                linli_sync_engine::repos::UNLOAD_IDLE_AFTER,
                std::time::Duration::from_secs,
            ),
            trusted_proxies,
            advertise_url: args
                .advertise_url
                .clone()
                .or(file.advertise_url)
                .map(|u| {
                    url::Url::parse(&u).map_err(|e| {
                        Error::BadRequest(format!(
                            "advertise_url {u:?} is not a URL (e.g. http://10.0.0.5:7878): {e}"
                        ))
                    })
                })
                .transpose()?,
            ..ServeConfig::new(PathBuf::new())
        },
        listen,
    ))
}

fn data_dir(cli: &Cli) -> Result<PathBuf> {
    let file = load_file(cli)?;
    let dir = cli
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    refuse_root_on_others_data(&dir)?;
    Ok(dir)
}

/// The PostgreSQL database the server keeps everything in, if any.
fn database_url(cli: &Cli) -> Result<Option<String>> {
    let file = load_file(cli)?;
    Ok(cli
        .database_url
        .clone()
        .or(file.database_url)
        .filter(|u| !u.trim().is_empty()))
}

async fn open_core(cli: &Cli) -> Result<std::sync::Arc<ServerCore>> {
    let options = linli_core::sqlite::DbOptions {
        durability: Durability::Full,
        max_page_count: None,
    };
    let url = database_url(cli)?;
    let (core, _) = crate::open_core(&data_dir(cli)?, url.as_deref(), options, false).await?;
    Ok(core)
}

/// Refuse `command` on PostgreSQL, saying what to do instead.
fn sqlite_only(cli: &Cli, command: &str, instead: &str) -> Result<()> {
    if database_url(cli)?.is_some() {
        return Err(Error::Config(format!(
            "`linli-server {command}` works on the SQLite store; this server's store is \
             PostgreSQL: {instead}"
        )));
    }
    Ok(())
}

fn fmt_ms(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "-".to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

/// Run every command except `serve` (which the binary runs itself).
pub async fn run_command(cli: &Cli, out: &mut impl Write) -> Result<()> {
    let io = |source| Error::Io {
        context: "writing output".into(),
        source,
    };
    match &cli.command {
        Command::Serve(_) => Err(Error::BadRequest("serve is run by the binary".into())),
        Command::PrintConfig => out
            .write_all(example_config(cli.data_dir.as_deref()).as_bytes())
            .map_err(io),
        Command::GenerateMan { out: dir } => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                context: format!("creating {}", dir.display()),
                source,
            })?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), dir).map_err(
                |source| Error::Io {
                    context: format!("writing manual pages into {}", dir.display()),
                    source,
                },
            )
        }
        Command::Hall(HallCommand::Add { id, name, tz }) => {
            let core = open_core(cli).await?;
            let hall = provision::add_hall(&core, id, name, tz).await;
            core.stop().await;
            let hall = hall?;
            writeln!(
                out,
                "hall {} added: calendar {}, directory {}",
                hall.id,
                provision::doc_url(&hall.calendar_doc)?,
                provision::doc_url(&hall.directory_doc)?
            )
            .map_err(io)
        }
        Command::Hall(HallCommand::List) => {
            let core = open_core(cli).await?;
            let halls = core.tables.halls().await;
            core.stop().await;
            for h in halls? {
                writeln!(out, "{}\t{}\t{}", h.id, h.name, h.tz).map_err(io)?;
            }
            Ok(())
        }
        Command::Kiosk(KioskCommand::Add { hall, name }) => {
            let core = open_core(cli).await?;
            let added = provision::add_kiosk(&core, hall, name).await;
            core.stop().await;
            let (kiosk, token) = added?;
            writeln!(
                out,
                "kiosk {} added to hall {}; its token (shown once):",
                kiosk.id, kiosk.hall_id
            )
            .map_err(io)?;
            writeln!(out, "{token}").map_err(io)
        }
        Command::Kiosk(KioskCommand::List) => {
            let core = open_core(cli).await?;
            let kiosks = core.tables.kiosks().await;
            core.stop().await;
            writeln!(out, "id\thall\tname\tlast seen\tversion\tstate").map_err(io)?;
            for k in kiosks? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.hall_id,
                    k.name,
                    fmt_ms(k.last_seen_ms),
                    k.app_version.as_deref().unwrap_or("-"),
                    if k.revoked_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                )
                .map_err(io)?;
            }
            Ok(())
        }
        Command::Kiosk(KioskCommand::Revoke { id }) => {
            let core = open_core(cli).await?;
            let r = provision::revoke_kiosk(&core, id).await;
            core.stop().await;
            if r? {
                writeln!(out, "kiosk {id} revoked").map_err(io)
            } else {
                writeln!(out, "kiosk {id} was already revoked").map_err(io)
            }
        }
        Command::Admin(AdminCommand::Add { user, role }) => {
            let core = open_core(cli).await?;
            let r = provision::add_admin(&core, user, role).await;
            core.stop().await;
            r?;
            writeln!(out, "admin {user} added with role {role}").map_err(io)
        }
        Command::Admin(AdminCommand::Token { user }) => {
            let core = open_core(cli).await?;
            let r = provision::admin_token(&core, user).await;
            core.stop().await;
            let token = r?;
            writeln!(out, "API token for {user} (shown once):").map_err(io)?;
            writeln!(out, "{token}").map_err(io)
        }
        Command::Admin(AdminCommand::Password { user }) => {
            let password = read_new_password(user)?;
            let hash = linli_sync_engine::accounts::hash_password_async(password).await?;
            let core = open_core(cli).await?;
            let r = linli_sync_engine::accounts::change_password(&*core.tables, user, &hash, None)
                .await;
            core.stop().await;
            let ended = r?;
            writeln!(
                out,
                "password set for {user}; {ended} console session(s) ended"
            )
            .map_err(io)
        }
        Command::Admin(AdminCommand::Grant { user, hall }) => {
            let core = open_core(cli).await?;
            let r = async {
                provision::require_hall(&core, hall).await?;
                core.tables.grant_hall(user, hall).await
            }
            .await;
            core.stop().await;
            r?;
            writeln!(out, "{user} may now see hall {hall}").map_err(io)
        }
        Command::Admin(AdminCommand::Ungrant { user, hall }) => {
            let core = open_core(cli).await?;
            let r = core.tables.ungrant_hall(user, hall).await;
            let r = match r {
                Ok(true) => audit_cli(&core, "ungrant_hall", user, Some(hall), None)
                    .await
                    .map(|()| true),
                other => other,
            };
            core.stop().await;
            if r? {
                writeln!(out, "{user} may no longer see hall {hall}").map_err(io)
            } else {
                writeln!(
                    out,
                    "{user} had no access to hall {hall}: nothing was changed"
                )
                .map_err(io)
            }
        }
        Command::Admin(AdminCommand::Remove { user }) => {
            let core = open_core(cli).await?;
            let r = match core.tables.remove_admin(user).await {
                Ok(removed) => {
                    let after = format!(
                        "{} token(s), {} session(s), {} hall grant(s) removed",
                        removed.tokens, removed.sessions, removed.halls
                    );
                    audit_cli(&core, "remove_admin", user, None, Some(&after))
                        .await
                        .map(|()| after)
                }
                Err(e) => Err(e),
            };
            core.stop().await;
            let after = r?;
            writeln!(out, "admin {user} removed: {after}").map_err(io)
        }
        Command::Admin(AdminCommand::RevokeToken { token, user }) => {
            let core = open_core(cli).await?;
            let hashed = token.as_deref().map(linli_sync_engine::auth::hash_token);
            let which = match (&hashed, user) {
                (Some(h), _) => linli_sync_engine::tables::AdminTokens::Hashed(h),
                (None, Some(u)) => linli_sync_engine::tables::AdminTokens::Of(u),
                (None, None) => {
                    core.stop().await;
                    return Err(Error::BadRequest("give --token or --user".into()));
                }
            };
            let target = user.clone().unwrap_or_else(|| "a token".into());
            let r = match core
                .tables
                .revoke_admin_tokens(which, linli_sync_engine::clock::now_ms())
                .await
            {
                Ok(n) => audit_cli(
                    &core,
                    "revoke_admin_tokens",
                    &target,
                    None,
                    Some(&n.to_string()),
                )
                .await
                .map(|()| n),
                Err(e) => Err(e),
            };
            core.stop().await;
            let n = r?;
            if n == 0 && token.is_some() {
                return Err(Error::NotFound(
                    "no live API token is that one (revoked already, or never issued)".into(),
                ));
            }
            writeln!(out, "{n} API token(s) revoked").map_err(io)
        }
        Command::Tls(TlsCommand::Init {
            out: dir,
            names,
            office,
        }) => {
            let made = crate::tls_init::init(dir, names, office)?;
            let file = |f: &str| dir.join(f).display().to_string();
            writeln!(
                out,
                "made {} (the office CA), {} and {} (this server's), {} (the CA's key)\n\
                 serve with: linli-server serve --tls-cert {} --tls-key {}\n\
                 give each kiosk {} and pair it with: linli-kiosk --server https://{}:7878 --token lk_… --ca office-ca.pem\n\
                 keep {} offline: it can issue certificates every kiosk trusts\n\
                 office CA fingerprint (SHA-256), to check a kiosk's copy:\n{}",
                file(crate::tls_init::CA_CERT),
                file(crate::tls_init::SERVER_CERT),
                file(crate::tls_init::SERVER_KEY),
                file(crate::tls_init::CA_KEY),
                file(crate::tls_init::SERVER_CERT),
                file(crate::tls_init::SERVER_KEY),
                file(crate::tls_init::CA_CERT),
                names[0],
                file(crate::tls_init::CA_KEY),
                made.ca_fingerprint
            )
            .map_err(io)
        }
        Command::Resident(ResidentCommand::Erase { phone }) => {
            let phone = linli_core::phone::PhoneNumber::parse(phone)
                .map_err(|e| Error::BadRequest(e.to_string()))?;
            let dir = data_dir(cli)?;
            let _lock = linli_sync_engine::backup::lock(&dir).map_err(|e| match e {
                Error::Conflict(_) => Error::Conflict(format!(
                    "a linli-server is running on {}: erase from its console (Residents → Erase, \
                     central admins), or stop it and run this again",
                    dir.display()
                )),
                other => other,
            })?;
            let core = open_core(cli).await?;
            let by = cli_user();
            let r = linli_sync_engine::erasure::erase_resident(&core, &phone, &by).await;
            core.stop().await;
            match r? {
                Some(e) => writeln!(
                    out,
                    "resident erased: {} records in {} documents rebuilt without them (halls: {}); \
                     counts and statistics are unchanged; each hall's kiosks delete their copies at \
                     their next sync\nerasure {}",
                    e.records,
                    e.documents,
                    e.halls.join(", "),
                    e.id
                )
                .map_err(io),
                None => writeln!(
                    out,
                    "no records of that number are stored on this server: nothing was changed"
                )
                .map_err(io),
            }
        }
        Command::Backup { to } => {
            sqlite_only(
                cli,
                "backup",
                "back it up with PostgreSQL's own tools (pg_dump -Fc DB > FILE, or the \
                 continuous archiving the database's operators run), and keep the residents' key \
                 file of the data directory apart from the backups",
            )?;
            let dir = data_dir(cli)?;
            let to = to.clone();
            let c =
                tokio::task::spawn_blocking(move || linli_sync_engine::backup::backup(&dir, &to))
                    .await
                    .map_err(|e| Error::BadRequest(e.to_string()))??;
            writeln!(
                out,
                "backup written: {} bytes, {} documents, {} check-ins\n\
                 the residents' key ({}) is not in the backup, by design: keep your own copy of it \
                 apart from the backups; without it sealed callback numbers cannot be opened",
                c.bytes,
                c.documents,
                c.checkins,
                linli_sync_engine::residents::KEY_FILE
            )
            .map_err(io)
        }
        Command::Restore { from } => {
            sqlite_only(
                cli,
                "restore",
                "restore it with PostgreSQL's own tools (pg_restore of a pg_dump), with every \
                 instance stopped, then start them with the same residents' key file",
            )?;
            let dir = data_dir(cli)?;
            let from = from.clone();
            let (c, kept) = tokio::task::spawn_blocking(move || {
                linli_sync_engine::backup::restore(&dir, &from)
            })
            .await
            .map_err(|e| Error::BadRequest(e.to_string()))??;
            writeln!(
                out,
                "restored: {} documents, {} check-ins; kiosks re-send what came after the backup when they reconnect",
                c.documents, c.checkins
            )
            .map_err(io)?;
            match kept {
                Some(kept) => {
                    writeln!(out, "the replaced database is kept as {}", kept.display()).map_err(io)
                }
                None => Ok(()),
            }
        }
        Command::UpgradeResidents => {
            sqlite_only(
                cli,
                "upgrade-residents",
                "databases of the old resident form were never on PostgreSQL; nothing to do",
            )?;
            let dir = data_dir(cli)?;
            let _lock = linli_sync_engine::backup::lock(&dir)?;
            let mut err = std::io::stderr();
            let u = linli_sync_engine::upgrade::upgrade_residents(&dir, |done, total| {
                let _ = write!(err, "\rconverting documents: {done}/{total}");
            })
            .await;
            let _ = writeln!(std::io::stderr());
            let u = u?;
            if u.documents == 0 {
                writeln!(
                    out,
                    "nothing to upgrade: no document holds residents of the old form"
                )
                .map_err(io)
            } else {
                writeln!(
                    out,
                    "upgraded: {} residents ({} whose number could not be recovered are erased), \
                     {} records in {} documents replaced; the old phone key is deleted. Each kiosk \
                     converts its own store when it next starts with this server reachable",
                    u.residents, u.unrecoverable, u.records, u.documents
                )
                .map_err(io)
            }
        }
        Command::RebuildProjection => {
            let core = open_core(cli).await?;
            let mut err = std::io::stderr();
            let r = projection::rebuild(&core, |done, total| {
                if done == total || done.is_multiple_of(50) {
                    let _ = write!(err, "\rprojecting documents: {done}/{total}");
                }
            })
            .await;
            let _ = writeln!(std::io::stderr());
            core.stop().await;
            let p = r?;
            writeln!(
                out,
                "projection rebuilt: {} records, {} quarantined",
                p.records, p.quarantined
            )
            .map_err(io)
        }
    }
}

/// Who the audit log names for a command-line action: `cli:` and the
/// operating-system user.
fn cli_user() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".into())
    )
}

/// Audit a command-line action on `target`.
async fn audit_cli(
    core: &ServerCore,
    action: &str,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<()> {
    core.tables
        .audit(
            &cli_user(),
            action,
            target,
            before,
            after,
            linli_sync_engine::clock::now_ms(),
        )
        .await
}

/// A new console password for `user`: on a terminal, asked twice without
/// echo (they must match); otherwise the first line of stdin, for
/// scripts. Never empty.
fn read_new_password(user: &str) -> Result<String> {
    use std::io::IsTerminal as _;
    let io = |context: &str| {
        let context = context.to_string();
        move |source| Error::Io { context, source }
    };
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New console password for {user}: "))
            .map_err(io("reading the password"))?;
        let again =
            rpassword::prompt_password("The same again: ").map_err(io("reading the password"))?;
        if first != again {
            return Err(Error::BadRequest(
                "the two passwords differ: nothing was changed".into(),
            ));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(io("reading the password from stdin"))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        return Err(Error::BadRequest(
            "an empty password: nothing was changed".into(),
        ));
    }
    Ok(password)
}
