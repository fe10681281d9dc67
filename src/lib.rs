//! ssegate: a Server-Sent Events hub and gateway served over HTTP/2 and TLS.
//!
//! # Layout
//!
//! - [`config`]: the TOML file and its validation into [`config::Config`].
//! - [`tls`], [`certs`]: rustls configuration with ALPN; the local CA and server
//!   certificate generator.
//! - [`server`], [`conn`]: listeners, accept loop, connection limit, graceful drain; one
//!   connection's TLS handshake and HTTP/1.1 or HTTP/2 serving.
//! - [`io`]: write coalescing, so a busy connection's frames leave in one TLS record.
//! - [`routes`], [`body`]: the HTTP API and the response body type.
//! - [`hub`]: topics, history and `Last-Event-ID` resumption, subscriber mailboxes.
//! - [`sse`]: event encoding and the streaming response body (heartbeats, limits).
//! - [`demo`]: the page at `/`.
//! - [`client`]: the client behind `ssegate publish` and `ssegate subscribe`.
//! - [`cli`]: command-line parsing and the commands, called by the thin `main`.

pub mod body;
pub mod certs;
pub mod cli;
pub mod client;
pub mod config;
pub mod conn;
pub mod demo;
pub mod forwarded;
pub mod gateway;
pub mod hub;
pub mod io;
pub mod proxy_protocol;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod sse;
pub mod tls;

pub use config::Config;
pub use server::Server;
