//! `linli-server`: parses arguments, sets up logging, runs the command.

use clap::Parser;
use linli_sync_server::cli::{Cli, Command, LogFormat};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(linli_sync_server::cap_content_logs(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        ))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Serve(args) = &cli.command {
        let (config, listen) = linli_sync_server::cli::resolve_serve(&cli, args)?;
        let ready = linli_sync_server::prepare(&config).await?;
        if let Some(token) = &ready.demo.admin_token {
            println!(
                "demo halls created; console sign-in {} / {} at /admin; API token (shown once):\n{token}",
                linli_sync_server::demo::DEMO_ADMIN,
                linli_sync_server::demo::DEMO_PASSWORD
            );
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("listening on {listen}: {e}"))?;
        // Handlers first: whoever reads "listening" may send SIGTERM at once.
        let stop = linli_sync_server::shutdown_signal();
        let scheme = if ready.tls.is_some() { "https" } else { "http" };
        println!(
            "linli-server listening on {scheme}://{}",
            listener.local_addr()?
        );
        linli_sync_server::serve(ready, listener, stop).await?;
        return Ok(());
    }
    let mut out = std::io::stdout();
    linli_sync_server::cli::run_command(&cli, &mut out).await?;
    Ok(())
}
