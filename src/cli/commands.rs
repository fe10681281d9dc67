//! The commands around the server: `cert` (the local CA and server certificate), and the
//! client's `publish` and `subscribe`, with how they trust the server.

use std::{io::Read, path::PathBuf};

use bytes::Bytes;
use clap::Args;

use ssegate::{
    certs,
    client::{self, ClientOptions, PublishOptions, SubscribeOptions, Trust},
    config::DEFAULT_CERT_DIR,
};

use super::CliError;

/// `ssegate cert`.
#[derive(Debug, Args)]
pub struct CertArgs {
    /// Hosts and IP addresses the server certificate covers.
    #[arg(long, value_delimiter = ',', default_values_t = certs::DEFAULT_HOSTS.iter().map(|h| h.to_string()))]
    pub hosts: Vec<String>,
    /// Directory of the CA and server files.
    #[arg(long, default_value = DEFAULT_CERT_DIR)]
    pub dir: PathBuf,
    /// Issue a new server certificate even when the current one is valid for the hosts.
    #[arg(long)]
    pub renew: bool,
}

/// How the client commands trust the server.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// CA certificate to trust besides the system roots [default: certs/ca.pem if present].
    #[arg(long, env = "SSEGATE_CACERT")]
    pub cacert: Option<PathBuf>,
    /// Accept any server certificate.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Offer only HTTP/1.1.
    #[arg(long)]
    pub http1: bool,
}

/// `ssegate publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Topic URL, e.g. https://127.0.0.1:8443/events/news.
    pub url: http::Uri,
    /// Event data; `-` or nothing reads standard input.
    pub data: Option<String>,
    /// Event type.
    #[arg(long)]
    pub event: Option<String>,
    /// Event id (default: assigned by the hub).
    #[arg(long)]
    pub id: Option<String>,
    /// Reconnection time for clients, in milliseconds.
    #[arg(long)]
    pub retry: Option<u64>,
    /// Bearer token, when publishing requires authorization (a static publish token or a
    /// Mercure access token; `ssegate token` mints one).
    #[arg(long, env = "SSEGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `ssegate subscribe`.
#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// Stream URL, e.g. https://127.0.0.1:8443/events/news.
    pub url: http::Uri,
    /// Resume after this event id.
    #[arg(long)]
    pub last_event_id: Option<String>,
    /// Exit after this many events.
    #[arg(long, short = 'n')]
    pub limit: Option<u64>,
    /// Give up after this many failed connection attempts in a row.
    #[arg(long)]
    pub max_reconnects: Option<u32>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

pub(super) fn cert(args: &CertArgs) -> Result<(), CliError> {
    // A valid certificate for these hosts is kept: browsers and clients that pinned or
    // cached it go on working; --renew issues a new one anyway.
    let local = if args.renew {
        certs::issue_server_cert(&args.dir, &args.hosts)?
    } else {
        certs::ensure_local_certs(&args.dir, &args.hosts)?
    };
    let p = &local.paths;
    if local.ca_created {
        println!("Created a local CA:    {}", p.ca_cert.display());
    } else {
        println!("Reused the local CA:   {}", p.ca_cert.display());
    }
    let issued = if local.server_issued {
        "issued"
    } else {
        "kept, still valid for these hosts; --renew issues a new one"
    };
    println!(
        "Server certificate:    {} ({issued})",
        p.server_cert.display()
    );
    println!("Server key:            {}", p.server_key.display());
    println!("Hosts:                 {}", args.hosts.join(", "));
    println!();
    println!("{}", certs::trust_instructions(&p.ca_cert));
    Ok(())
}

fn client_options(args: &TrustArgs) -> ClientOptions {
    let trust = if args.insecure {
        Trust::Insecure
    } else {
        let default_ca = PathBuf::from(DEFAULT_CERT_DIR).join("ca.pem");
        let extra_ca = args
            .cacert
            .clone()
            .or_else(|| default_ca.exists().then_some(default_ca));
        Trust::Roots { extra_ca }
    };
    ClientOptions {
        trust,
        http1_only: args.http1,
        ..ClientOptions::default()
    }
}

pub(super) async fn publish(args: PublishArgs) -> Result<(), CliError> {
    let data = match args.data.as_deref() {
        Some(data) if data != "-" => Bytes::from(data.to_owned()),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|source| CliError::Io {
                    context: "cannot read standard input",
                    source,
                })?;
            // `echo hello |` adds a newline the data did not mean: drop one, as the shell's
            // `$(...)` does, so `publish URL hello` and `echo hello | publish URL -` agree.
            if buf.ends_with(b"\r\n") {
                buf.truncate(buf.len() - 2);
            } else if buf.ends_with(b"\n") {
                buf.truncate(buf.len() - 1);
            }
            Bytes::from(buf)
        }
    };
    let opts = PublishOptions {
        event: args.event,
        id: args.id,
        retry_ms: args.retry,
        token: args.token,
    };
    let id = client::publish(&args.url, data, &opts, &client_options(&args.trust)).await?;
    println!("{id}");
    Ok(())
}

pub(super) async fn subscribe(args: SubscribeArgs) -> Result<(), CliError> {
    let opts = SubscribeOptions {
        last_event_id: args.last_event_id,
        max_events: args.limit,
        max_reconnects: args.max_reconnects,
    };
    let client = client_options(&args.trust);
    client::subscribe(&args.url, &opts, &client, |event| {
        print!("{}", client::format_event(event));
    })
    .await?;
    Ok(())
}
