//! The command line: `serve`, `cert`, `publish`, `subscribe`, `token`. Parsing is clap's;
//! each command returns a typed error that `main` turns into a message and an exit code.
//! The binary's side only: the library never parses a command line, sets up logging or
//! installs signal handlers.

mod commands;
mod help;
mod token;

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

use ssegate::{
    certs, client,
    config::{ConfigError, LogConfig, LogFormat, RawConfig},
    server::{self, Server, ServerError},
};

use commands::{cert, publish, subscribe};
pub use commands::{CertArgs, PublishArgs, SubscribeArgs};
pub use help::parse;

/// ssegate: Server-Sent Events over HTTP/2 and TLS.
#[derive(Debug, Parser)]
#[command(name = "ssegate", version, about, long_about = None)]
pub struct Cli {
    /// The command; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (default: https://127.0.0.1:8443 with a generated local certificate).
    Serve(Box<ServeArgs>),
    /// Create a local CA (once) and a server certificate signed by it.
    Cert(CertArgs),
    /// Publish one event: `ssegate publish https://127.0.0.1:8443/events/news 'hello'`.
    Publish(PublishArgs),
    /// Print the events of a stream, reconnecting with Last-Event-ID.
    Subscribe(SubscribeArgs),
    /// Mint a Mercure access token signed with an HMAC secret.
    Token(token::TokenArgs),
}

/// `ssegate serve`: a config file, and a flag for every setting (flags win over the file).
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Check the configuration (file and flags) and exit without serving: 0 when it is
    /// valid, 64 with the culprit named otherwise.
    #[arg(long, alias = "check-config")]
    pub check: bool,
    /// server.listen: TLS listener address.
    #[arg(long)]
    pub listen: Option<String>,
    /// server.plaintext_listen: HTTP/1.1 + h2c listener address.
    #[arg(long)]
    pub plaintext_listen: Option<String>,
    /// admin.listen: the admin listener (/metrics, /healthz, /readyz), plain HTTP/1.1.
    #[arg(long, env = "SSEGATE_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// admin.enabled = false: no admin listener (no metrics).
    #[arg(long)]
    pub no_admin: bool,
    /// server.max_connections.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// server.tls_handshake_timeout_secs.
    #[arg(long)]
    pub tls_handshake_timeout: Option<f64>,
    /// server.header_read_timeout_secs.
    #[arg(long)]
    pub header_read_timeout: Option<f64>,
    /// server.body_read_timeout_secs.
    #[arg(long)]
    pub body_read_timeout: Option<f64>,
    /// server.max_body_bytes.
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// server.shutdown_timeout_secs.
    #[arg(long)]
    pub shutdown_timeout: Option<f64>,
    /// server.write_coalesce_ms (0 turns write batching off).
    #[arg(long)]
    pub write_coalesce: Option<f64>,
    /// server.write_stall_timeout_secs.
    #[arg(long)]
    pub write_stall_timeout: Option<f64>,
    /// server.workers: threads that serve connections (0: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// server.proxy_protocol: expect a PROXY protocol header on the TLS listener.
    #[arg(long)]
    pub proxy_protocol: bool,
    /// server.plaintext_proxy_protocol: the same on the plaintext listener.
    #[arg(long)]
    pub plaintext_proxy_protocol: bool,
    /// server.trusted_proxies: comma-separated IPs/CIDRs whose X-Forwarded-For is trusted.
    #[arg(long, value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// hub.publish_auth: auto (a token is needed when a listener is not loopback),
    /// required or open.
    #[arg(long)]
    pub publish_auth: Option<String>,
    /// mercure.enabled = false: no Mercure hub.
    #[arg(long)]
    pub no_mercure: bool,
    /// mercure.hub_url: the Mercure hub's URL (its path is where it is served).
    #[arg(long)]
    pub mercure_hub_url: Option<String>,
    /// mercure.legacy: accept pre-1.0 Mercure clients too.
    #[arg(long)]
    pub mercure_legacy: bool,
    /// cluster.redis_url: share the hub's log with other nodes on Redis Streams.
    #[arg(long, env = "SSEGATE_REDIS_URL")]
    pub redis_url: Option<String>,
    /// cluster.key_prefix.
    #[arg(long)]
    pub cluster_key_prefix: Option<String>,
    /// cluster.node_name.
    #[arg(long)]
    pub node_name: Option<String>,
    /// hub.enabled = false: serve no built-in hub (gateway only).
    #[arg(long)]
    pub no_hub: bool,
    /// hub.path: path prefix of the hub's API.
    #[arg(long)]
    pub hub_path: Option<String>,
    /// demo.enabled = false: no demo page at /.
    #[arg(long)]
    pub no_demo: bool,
    /// A [[route]]: PATH=UPSTREAM, e.g. /=http://127.0.0.1:4000 (repeatable; other route
    /// settings need the config file).
    #[arg(long = "route", value_name = "PATH=UPSTREAM")]
    pub routes: Vec<String>,
    /// tls.cert: PEM certificate chain.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// tls.key: PEM private key.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// tls.cert_dir: where local certificates are generated.
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,
    /// tls.hosts: comma-separated hosts of the generated certificate.
    #[arg(long, value_delimiter = ',')]
    pub cert_hosts: Option<Vec<String>>,
    /// http2.max_concurrent_streams.
    #[arg(long)]
    pub h2_max_concurrent_streams: Option<u32>,
    /// http2.initial_stream_window.
    #[arg(long)]
    pub h2_initial_stream_window: Option<u32>,
    /// http2.initial_connection_window.
    #[arg(long)]
    pub h2_initial_connection_window: Option<u32>,
    /// http2.keepalive_interval_secs (0 turns PINGs off).
    #[arg(long)]
    pub h2_keepalive_interval: Option<f64>,
    /// http2.keepalive_timeout_secs.
    #[arg(long)]
    pub h2_keepalive_timeout: Option<f64>,
    /// http2.max_header_list_size.
    #[arg(long)]
    pub h2_max_header_list_size: Option<u32>,
    /// http2.max_send_buf_size (no longer used; accepted for old command lines).
    #[arg(long)]
    pub h2_max_send_buf_size: Option<usize>,
    /// hub.heartbeat_interval_secs.
    #[arg(long)]
    pub heartbeat_interval: Option<f64>,
    /// hub.history_max_events.
    #[arg(long)]
    pub history_max_events: Option<usize>,
    /// hub.history_max_bytes.
    #[arg(long)]
    pub history_max_bytes: Option<usize>,
    /// hub.subscriber_queue.
    #[arg(long)]
    pub subscriber_queue: Option<usize>,
    /// hub.max_topics_per_subscription.
    #[arg(long)]
    pub max_topics_per_subscription: Option<usize>,
    /// log.format: text or json.
    #[arg(long)]
    pub log_format: Option<String>,
    /// log.filter, e.g. info or ssegate=debug (RUST_LOG wins).
    #[arg(long)]
    pub log_filter: Option<String>,
}

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad configuration (exit code 64, as linkerd and sysexits' EX_USAGE).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Certificate generation failed.
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    /// A client command failed.
    #[error(transparent)]
    Client(#[from] client::ClientError),
    /// A command line that cannot be carried out as given.
    #[error("{0}")]
    Usage(String),
    /// Reading standard input or building the runtime failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl CliError {
    /// What to do about it, when the error alone would leave a new user guessing.
    pub fn hint(&self) -> Option<&'static str> {
        // rustls says UnknownIssuer, wrapped in I/O errors: look through the whole chain.
        let mut unknown_issuer = false;
        let mut next: Option<&dyn std::error::Error> = Some(self);
        while let Some(error) = next {
            unknown_issuer |= format!("{error:?}").contains("UnknownIssuer");
            next = error.source();
        }
        (matches!(self, Self::Client(_)) && unknown_issuer).then_some(
            "the server's certificate is not signed by a CA this client trusts: pass \
             --cacert (or set SSEGATE_CACERT) with the server's CA; a server started with the \
             defaults wrote it to certs/ca.pem in its working directory",
        )
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Config(_) | Self::Usage(_) => ExitCode::from(64),
            _ => ExitCode::FAILURE,
        }
    }
}

impl ServeArgs {
    /// Lays the flags over the file's values.
    pub fn apply(&self, raw: &mut RawConfig) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        let s = &mut raw.server;
        set(&mut s.listen, &self.listen);
        if self.plaintext_listen.is_some() {
            s.plaintext_listen = self.plaintext_listen.clone();
        }
        set(&mut s.max_connections, &self.max_connections);
        set(
            &mut s.tls_handshake_timeout_secs,
            &self.tls_handshake_timeout,
        );
        set(&mut s.header_read_timeout_secs, &self.header_read_timeout);
        set(&mut s.body_read_timeout_secs, &self.body_read_timeout);
        set(&mut s.max_body_bytes, &self.max_body_bytes);
        set(&mut s.shutdown_timeout_secs, &self.shutdown_timeout);
        set(&mut s.write_coalesce_ms, &self.write_coalesce);
        set(&mut s.write_stall_timeout_secs, &self.write_stall_timeout);
        set(&mut s.workers, &self.workers);
        s.proxy_protocol |= self.proxy_protocol;
        s.plaintext_proxy_protocol |= self.plaintext_proxy_protocol;
        set(&mut s.trusted_proxies, &self.trusted_proxies);
        set(&mut raw.admin.listen, &self.admin_listen);
        raw.admin.enabled &= !self.no_admin;
        let t = &mut raw.tls;
        if self.cert.is_some() {
            t.cert = self.cert.clone();
        }
        if self.key.is_some() {
            t.key = self.key.clone();
        }
        set(&mut t.cert_dir, &self.cert_dir);
        set(&mut t.hosts, &self.cert_hosts);
        let h = &mut raw.http2;
        set(
            &mut h.max_concurrent_streams,
            &self.h2_max_concurrent_streams,
        );
        set(&mut h.initial_stream_window, &self.h2_initial_stream_window);
        set(
            &mut h.initial_connection_window,
            &self.h2_initial_connection_window,
        );
        set(&mut h.keepalive_interval_secs, &self.h2_keepalive_interval);
        set(&mut h.keepalive_timeout_secs, &self.h2_keepalive_timeout);
        set(&mut h.max_header_list_size, &self.h2_max_header_list_size);
        set(&mut h.max_send_buf_size, &self.h2_max_send_buf_size);
        let b = &mut raw.hub;
        b.enabled &= !self.no_hub;
        set(&mut b.publish_auth, &self.publish_auth);
        raw.mercure.enabled &= !self.no_mercure;
        if self.mercure_hub_url.is_some() {
            raw.mercure.hub_url = self.mercure_hub_url.clone();
        }
        raw.mercure.legacy |= self.mercure_legacy;
        if self.redis_url.is_some() {
            raw.cluster.redis_url = self.redis_url.clone();
        }
        set(&mut raw.cluster.key_prefix, &self.cluster_key_prefix);
        if self.node_name.is_some() {
            raw.cluster.node_name = self.node_name.clone();
        }
        let b = &mut raw.hub;
        set(&mut b.path, &self.hub_path);
        raw.demo.enabled &= !self.no_demo;
        for route in &self.routes {
            let (path, upstream) = route.split_once('=').unwrap_or((route.as_str(), ""));
            raw.routes.push(ssegate::config::RawRoute {
                path: path.to_owned(),
                upstream: upstream.to_owned(),
                ..Default::default()
            });
        }
        set(&mut b.heartbeat_interval_secs, &self.heartbeat_interval);
        set(&mut b.history_max_events, &self.history_max_events);
        set(&mut b.history_max_bytes, &self.history_max_bytes);
        set(&mut b.subscriber_queue, &self.subscriber_queue);
        set(
            &mut b.max_topics_per_subscription,
            &self.max_topics_per_subscription,
        );
        set(&mut raw.log.format, &self.log_format);
        set(&mut raw.log.filter, &self.log_filter);
    }
}

/// Runs a parsed command line to completion.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        None => serve(&ServeArgs::default()),
        Some(Command::Serve(args)) => serve(&args),
        Some(Command::Cert(args)) => cert(&args),
        Some(Command::Publish(args)) => {
            init_client_tracing();
            runtime()?.block_on(publish(args))
        }
        Some(Command::Subscribe(args)) => {
            init_client_tracing();
            runtime()?.block_on(subscribe(args))
        }
        Some(Command::Token(args)) => token::token(&args),
    }
}

/// The commands' runtime. `serve` accepts connections on it and runs the admin listener,
/// the cluster's readers and ACME there; the connections themselves are served on the
/// server's own worker threads (`ssegate::workers`). With `tokio_unstable` (set in
/// `.cargo/config.toml`) the LIFO slot is off, so a task woken by many others runs after
/// all of them (see PERFORMANCE.md).
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder.build().map_err(|source| CliError::Io {
        context: "cannot start the async runtime",
        source,
    })
}

fn serve(args: &ServeArgs) -> Result<(), CliError> {
    let mut raw = match &args.config {
        Some(path) => RawConfig::from_file(path)?,
        None => RawConfig::default(),
    };
    args.apply(&mut raw);
    let config = raw.validate()?;
    if args.check {
        println!("configuration ok");
        return Ok(());
    }
    init_tracing(&config.log);
    let fd_limit = server::raise_fd_limit(config.server.max_connections);
    tracing::info!(fd_limit, "starting ssegate {}", env!("CARGO_PKG_VERSION"));
    runtime()?.block_on(async move {
        let server = Server::bind(config).await?;
        let reloads = tokio::spawn(reload_on_sighup(server.certificates().clone()));
        server.run(shutdown_signal()).await;
        reloads.abort();
        Ok(())
    })
}

/// Sets up logging: text or JSON lines on standard error, filtered by `RUST_LOG` or the
/// configured filter.
pub fn init_tracing(log: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal: a journal or a file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless: the first subscriber stays.
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Logging for the client commands: what they are doing (subscribed, each reconnection and
/// its cause, failed attempts, the `--insecure` warning) on standard error, short lines
/// without timestamps, so that standard output carries only the events. `RUST_LOG` (e.g.
/// `warn`, or `debug` for the connection details) overrides the level.
fn init_client_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Reloads the certificates at each SIGHUP (systemd's `ExecReload`), for as long as it runs.
async fn reload_on_sighup(certificates: std::sync::Arc<ssegate::tls::CertStore>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: certificates reload only when their files change");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            let certificates = certificates.clone();
            // Reading and parsing files blocks: keep it off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || {
                ssegate::tls::log_reload(&certificates, "SIGHUP")
            })
            .await;
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received");
}
