//! The `islet` command: a thin CLI over the `islet` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use islet::{Config, Host};

/// A multi-tenant isolate host: JavaScript on V8 and WebAssembly on
/// wasmtime, behind one HTTP front.
#[derive(Parser)]
#[command(name = "islet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the tenants of a configuration file.
    Serve {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Listen address; overrides `server.listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Serve one script (.js, .wasm or .wat) on every route.
    Dev {
        /// The tenant's code.
        script: PathBuf,
        /// Run the script on this language runtime module (e.g. the
        /// QuickJS runtime built by sdk/runtimes/build.sh).
        #[arg(long, value_name = "MODULE")]
        runtime: Option<PathBuf>,
        /// Listen address [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
}

/// Exit status for configuration and tenant-code errors.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();

    // V8's platform comes first, before any thread that may run JS.
    islet::init_v8();

    let (config, listen, source) = match &cli.command {
        Command::Serve { config, listen } => (Config::load(config), *listen, config),
        Command::Dev {
            script,
            listen,
            runtime,
        } => {
            let config = match runtime {
                Some(module) => match islet::runtime::name_of(module) {
                    Ok(name) => Config::single_on(script, Some((&name, module))),
                    Err(error) => {
                        eprintln!("islet: {}: {error}", module.display());
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
                None => Config::single(script),
            };
            (config, *listen, script)
        }
    };
    let mut config = match config {
        Ok(config) => config,
        Err(error) => {
            eprintln!("islet: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(listen) = listen {
        config.server.listen = listen;
    }

    let host = match Host::new(&config) {
        Ok(host) => host,
        Err(error) => {
            eprintln!("islet: {}: {error}", source.display());
            let code = if error.is_config() { EXIT_CONFIG } else { 1 };
            return ExitCode::from(code);
        }
    };

    match run(host, &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("islet: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(host: Host, config: &Config) -> anyhow::Result<()> {
    // The front needs few threads: tenant code runs on the workers.
    let front_threads = (config.server.workers / 2).clamp(1, 4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(front_threads)
        .thread_name("islet-front")
        .enable_all()
        .build()
        .context("cannot start the front's runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        if let Some(admin) = config.admin.listen {
            let admin = tokio::net::TcpListener::bind(admin)
                .await
                .with_context(|| format!("cannot listen on {admin} (admin)"))?;
            let admin_addr = admin.local_addr()?;
            tracing::info!(admin_addr = %admin_addr, "admin listening on http://{admin_addr}/metrics");
            tokio::spawn(islet::serve_admin(host.clone(), admin));
        }
        tracing::info!(
            %addr,
            tenants = host.tenants().len(),
            workers = config.server.workers,
            "islet listening on http://{addr}"
        );
        islet::serve(host, listener, shutdown_signal()).await?;
        tracing::info!("islet stopped");
        Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

fn init_logging() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // wasmtime-wasi traces every WASI call at `info` as a span around the
    // tenant's own log lines; keep that out unless asked for by name.
    let asked = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("wasmtime_wasi"));
    if !asked && let Ok(quiet) = "wasmtime_wasi=warn".parse() {
        filter = filter.add_directive(quiet);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
