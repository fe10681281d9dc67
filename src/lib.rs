//! ssegate: a Server-Sent Events hub and gateway served over HTTP/2 and TLS.
//!
//! # Layout
//!
//! - [`config`]: the TOML file and its validation into [`config::Config`].
//! - [`tls`], [`certs`]: rustls configuration with ALPN; the local CA and server
//!   certificate generator.
//! - [`server`], [`conn`], [`shutdown`]: listeners, accept loop, connection limit; one
//!   connection's PROXY header, TLS handshake and HTTP/1.1 or HTTP/2 serving; draining.
//! - [`proxy_protocol`], [`forwarded`]: PROXY protocol v1/v2 headers; trusted proxies and
//!   `X-Forwarded-For`.
//! - [`io`]: write coalescing, so a busy connection's frames leave in one TLS record.
//! - [`routes`], [`body`]: the HTTP API and routing, and the response body type.
//! - [`gateway`]: upstream routes, the streaming proxy, SSE relay and fan-out.
//! - [`hub`]: topics, history and `Last-Event-ID` resumption, subscriber mailboxes.
//! - [`mercure`]: the Mercure protocol hub: subscription, publication, access tokens,
//!   active subscriptions.
//! - [`publish_auth`]: who may publish on the native API.
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
pub mod mercure;
pub mod proxy_protocol;
pub mod publish_auth;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod sse;
pub mod tls;

pub use config::Config;
pub use server::Server;
