//! `linli-kiosk`: parses arguments and runs the egui app.

use std::{path::PathBuf, sync::Arc};

#[cfg(feature = "demo")]
use anyhow::Context;
use clap::Parser;
use linli_core::{KioskNode, KioskNodeOptions, pairing_link::PairingLink};
use linli_kiosk::{app::KioskApp, worker::Start};
use url::Url;

/// The demo kiosk's staff PIN.
#[cfg(feature = "demo")]
const DEMO_PIN: &str = "2468";

/// Linli touchscreen kiosk.
#[derive(Parser, Debug)]
#[command(
    name = "linli-kiosk",
    version,
    about,
    after_long_help = "Files (the Debian package's kiosk session):\n  \
                       /var/lib/linli-kiosk  the kiosk's store (LINLI_KIOSK_DATA_DIR), with \
                       pinned-ca.pem once a pairing link pinned the server's CA\n  \
                       /etc/linli/kiosk.env  LINLI_SERVER, LINLI_TOKEN, LINLI_CA for the session\n\
                       The session is the systemd service linli-kiosk: the user linli-kiosk \
                       logged in on tty7 into cage, which runs the kiosk fullscreen."
)]
struct Args {
    /// Where the kiosk keeps its SQLite store (default ./linli-kiosk-data,
    /// or ./linli-demo with --demo).
    #[arg(long, env = "LINLI_KIOSK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The sync server, e.g. http://192.168.1.10:7878 (needed once, to
    /// pair), or the console's whole pairing link
    /// ('https://HOST/#linli-pair?token=…&ca=sha256:…'), which brings the
    /// token and the fingerprint of the certificate to pin with it.
    #[arg(long, env = "LINLI_SERVER")]
    server: Option<Url>,
    /// The pairing token from `linli-server kiosk add` (needed once; not
    /// with a pairing link, which carries it).
    #[arg(long, env = "LINLI_TOKEN")]
    token: Option<String>,
    /// Trust only this CA (PEM) for an https:// server, instead of the
    /// public roots (a street office's own CA). Wins over the certificate
    /// a pairing link pinned.
    #[arg(long, env = "LINLI_CA")]
    ca: Option<PathBuf>,
    /// Run in a window instead of fullscreen.
    #[arg(long)]
    windowed: bool,
    /// Start an in-process server with demo data and pair with it (a
    /// kiosk built with `--features demo`).
    #[arg(long)]
    demo: bool,
    /// Write the manual pages (roff) of linli-kiosk and its commands into
    /// DIR and exit: the Debian package's are made so.
    #[arg(long, hide = true, value_name = "DIR")]
    generate_man: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What else the kiosk program does (with none, it runs the kiosk).
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Put a copy of this kiosk's store back, with the kiosk stopped: the
    /// store in use is moved aside (never deleted), and at its next start
    /// the kiosk closes the copy's points store before anything else, so
    /// rights to volunteers' points that were spent after the copy was
    /// taken are never spent again, even offline.
    Restore {
        /// The copy: a kiosk data directory copied earlier.
        #[arg(long)]
        from: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(cap_frame_logs(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,samod=warn,samod_core=warn")
            }),
        ))
        .init();
    let args = Args::parse();
    if let Some(dir) = &args.generate_man {
        std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(<Args as clap::CommandFactory>::command(), dir))
            .map_err(|e| anyhow::anyhow!("writing manual pages into {}: {e}", dir.display()))?;
        return Ok(());
    }
    if let Some(Command::Restore { from }) = &args.command {
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./linli-kiosk-data"));
        let now = chrono::Utc::now().timestamp_millis();
        let done = linli_core::node::restore::restore_store(from, &data_dir, now)
            .map_err(|e| anyhow::anyhow!("not restored: {e}"))?;
        println!(
            "restored {} file(s) from {} into {}",
            done.files,
            from.display(),
            data_dir.display()
        );
        if let Some(aside) = done.moved_aside {
            println!("the store that was in use is kept in {}", aside.display());
        }
        println!(
            "at its next start the kiosk closes the copy's points store and carries on with a new one"
        );
        return Ok(());
    }
    if args.demo && args.server.is_none() && !cfg!(feature = "demo") {
        anyhow::bail!(
            "this linli-kiosk was built without the demo server; run the demo with \
             `cargo run -p linli-kiosk --features demo -- --demo --windowed`"
        );
    }
    let base = args.data_dir.clone().unwrap_or_else(|| {
        PathBuf::from(if args.demo {
            "./linli-demo"
        } else {
            "./linli-kiosk-data"
        })
    });
    let kiosk_dir = if args.demo {
        base.join("kiosk")
    } else {
        base.clone()
    };
    let mut options = KioskNodeOptions::new(&kiosk_dir);
    if let Some(ca) = &args.ca {
        let pem = std::fs::read(ca)
            .map_err(|e| anyhow::anyhow!("reading the pinned CA {}: {e}", ca.display()))?;
        options.trust = linli_core::tls::Trust::pinned_ca(&pem)?;
    }
    let check = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let provisioned = check.block_on(KioskNode::is_provisioned(&kiosk_dir))?;
    drop(check);

    #[cfg(feature = "demo")]
    let mut demo = None;
    let clock: linli_kiosk::app::Clock = Arc::new(|| chrono::Utc::now().timestamp_millis());
    let tz = chrono_tz::Asia::Shanghai;
    let viewport = egui::ViewportBuilder::default()
        .with_title("邻里 Linli")
        .with_inner_size([1280.0, 800.0])
        .with_fullscreen(!args.windowed);
    let native = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };

    #[cfg(feature = "demo")]
    let open = if args.demo && args.server.is_none() {
        let server = linli_sync_server::in_process::InProcessServer::start(&base.join("server"))
            .context("starting the demo server")?;
        println!(
            "demo server on {} (data in {}); staff PIN {DEMO_PIN}",
            server.url,
            base.display()
        );
        options.server_override = Some(server.url.clone());
        let start = if provisioned {
            Start::Open(options)
        } else {
            let token = server.provision_kiosk("大厅入口")?;
            Start::Pair {
                options,
                server: server.url.clone(),
                token,
                ca_fingerprint: None,
            }
        };
        demo = Some(server);
        Open::Start(start, Some(DEMO_PIN))
    } else {
        paired_or_pairing(&args, options, provisioned)?
    };
    #[cfg(not(feature = "demo"))]
    let open = paired_or_pairing(&args, options, provisioned)?;

    let result = eframe::run_native(
        "linli-kiosk",
        native,
        Box::new(move |cc| {
            KioskApp::setup(&cc.egui_ctx);
            let ctx = cc.egui_ctx.clone();
            let wake: linli_kiosk::app::Waker = Arc::new(move || ctx.request_repaint());
            let app = match open {
                Open::Start(start, pin) => {
                    let app = KioskApp::new(start, clock, tz, wake)?;
                    match pin {
                        Some(p) => app.with_staff_pin(p),
                        None => app,
                    }
                }
                Open::Unpaired(options) => KioskApp::unpaired(options, clock, tz, wake),
            };
            Ok(Box::new(app))
        }),
    );
    #[cfg(feature = "demo")]
    drop(demo);
    result.map_err(|e| anyhow::anyhow!("running the kiosk window: {e}"))
}

/// What the window opens on: a paired kiosk, a pairing in progress (both
/// with the demo's staff PIN when it is the demo), or the pairing screen.
enum Open {
    Start(Start, Option<&'static str>),
    Unpaired(KioskNodeOptions),
}

/// A kiosk of a real server: paired already, pairing with the server and
/// token given (`--server` may be the console's whole pairing link, which
/// brings the token and the certificate's fingerprint), or waiting on the
/// pairing screen.
fn paired_or_pairing(
    args: &Args,
    mut options: KioskNodeOptions,
    provisioned: bool,
) -> anyhow::Result<Open> {
    let link = args
        .server
        .as_ref()
        .map(|s| PairingLink::parse(s.as_str()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--server: {e}"))?;
    if provisioned {
        if let Some(link) = link {
            // Paired already: only the address counts (the pinned
            // certificate stays the one pinned at pairing).
            options.server_override = Some(link.server);
        }
        return Ok(Open::Start(Start::Open(options), None));
    }
    let token = match (
        args.token.clone(),
        link.as_ref().and_then(|l| l.token.clone()),
    ) {
        (Some(given), Some(linked)) if given != linked => anyhow::bail!(
            "--token and the token in the --server pairing link differ: give the link alone"
        ),
        (given, linked) => given.or(linked),
    };
    if options.trust.is_pinned() && link.as_ref().is_some_and(|l| l.ca.is_some()) {
        tracing::info!("--ca given: the pairing link's certificate fingerprint is not used");
    }
    Ok(match (link, token) {
        (Some(link), Some(token)) => Open::Start(
            Start::Pair {
                options,
                server: link.server,
                token,
                ca_fingerprint: link.ca,
            },
            None,
        ),
        _ => Open::Unpaired(options),
    })
}

/// Even at `RUST_LOG=trace`, the WebSocket library logs at most `info`: at
/// trace it prints whole frames and handshakes, with tokens and the text
/// residents typed.
fn cap_frame_logs(filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    ["tungstenite=info", "tokio_tungstenite=info"]
        .into_iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, tracing_subscriber::EnvFilter::add_directive)
}
