//! `linli-kiosk`: parses arguments and runs the egui app.

use std::{path::PathBuf, sync::Arc};

use anyhow::{Context, bail};
use clap::Parser;
use linli_core::{KioskNode, KioskNodeOptions};
use linli_kiosk::{
    app::KioskApp,
    demo::DemoServer,
    worker::{Start, Worker},
};
use url::Url;

/// Linli touchscreen kiosk.
#[derive(Parser, Debug)]
#[command(name = "linli-kiosk", version, about)]
struct Args {
    /// Where the kiosk keeps its SQLite store (default ./linli-kiosk-data,
    /// or ./linli-demo with --demo).
    #[arg(long, env = "LINLI_KIOSK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The sync server, e.g. http://192.168.1.10:7878 (needed once, to pair).
    #[arg(long, env = "LINLI_SERVER")]
    server: Option<Url>,
    /// The pairing token from `linli-server kiosk add` (needed once).
    #[arg(long, env = "LINLI_TOKEN")]
    token: Option<String>,
    /// Run in a window instead of fullscreen.
    #[arg(long)]
    windowed: bool,
    /// Start an in-process server with demo data and pair with it.
    #[arg(long)]
    demo: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,samod=warn,samod_core=warn")
            }),
        )
        .init();
    let args = Args::parse();
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
    let check = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let provisioned = check.block_on(KioskNode::is_provisioned(&kiosk_dir))?;
    drop(check);

    let mut demo = None;
    let start = if args.demo && args.server.is_none() {
        let server = DemoServer::start(&base.join("server")).context("starting the demo server")?;
        println!("demo server on {} (data in {})", server.url, base.display());
        options.server_override = Some(server.url.clone());
        let start = if provisioned {
            Start::Open(options)
        } else {
            let token = server.provision_kiosk("大厅入口")?;
            Start::Pair {
                options,
                server: server.url.clone(),
                token,
            }
        };
        demo = Some(server);
        start
    } else if provisioned {
        if let Some(s) = &args.server {
            options.server_override = Some(s.clone());
        }
        Start::Open(options)
    } else {
        match (args.server.clone(), args.token.clone()) {
            (Some(server), Some(token)) => Start::Pair {
                options,
                server,
                token,
            },
            _ => bail!(
                "this kiosk is not paired yet: run it once with --server URL --token TOKEN \
                 (from `linli-server kiosk add`), or try --demo"
            ),
        }
    };

    let viewport = egui::ViewportBuilder::default()
        .with_title("邻里 Linli")
        .with_inner_size([1280.0, 800.0])
        .with_fullscreen(!args.windowed);
    let native = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    let result = eframe::run_native(
        "linli-kiosk",
        native,
        Box::new(move |cc| {
            KioskApp::setup(&cc.egui_ctx);
            let ctx = cc.egui_ctx.clone();
            let worker = Worker::spawn(start, Arc::new(move || ctx.request_repaint()))?;
            Ok(Box::new(KioskApp::new(
                worker,
                Arc::new(|| chrono::Utc::now().timestamp_millis()),
                chrono_tz::Asia::Shanghai,
            )))
        }),
    );
    drop(demo);
    result.map_err(|e| anyhow::anyhow!("running the kiosk window: {e}"))
}
