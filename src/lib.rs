//! ssegate: a Server-Sent Events hub and gateway served over HTTP/2 and TLS.
//!
//! # Layout
//!
//! Dependencies point one way, from the edge down to encoding:
//! edge → router → front doors → hub → `sse`, with `http`, `config` and `auth` below the
//! modules that use them. `tests/integration/architecture.rs` checks it.
//!
//! - Edge: [`server`] (listeners, accept loop, connection limit, the assembly of every
//!   part), [`conn`] (one connection's PROXY header, TLS handshake and HTTP/1.1 or HTTP/2
//!   serving), [`shutdown`] (draining), [`io`] (write coalescing), [`stall`] (responses
//!   held at a zero window), [`proxy_protocol`],
//!   [`tls`] (rustls with ALPN; certificates by server name, reloaded from their files), [`certs`] (the local CA and server certificate), [`acme`]
//!   (automatic HTTPS: certificates from an ACME CA, renewed).
//! - [`router`]: `/healthz` and which front door serves a path.
//! - Front doors: [`native`] (the `/events` API and who may publish on it), [`mercure`]
//!   (the Mercure protocol hub), [`gateway`] (upstream routes, streaming proxy, SSE relay and
//!   fan-out), [`demo`] (the page at `/`).
//! - [`hub`]: the [`hub::Log`] (ids, history, `Last-Event-ID` lookup; [`hub::MemoryLog`] by
//!   default) and the [`hub::Router`] (topic index, scan groups, mailboxes).
//! - [`cluster`]: the hub's log on Redis Streams, shared by several nodes (`[cluster]`).
//! - [`sse`]: event encoding, the wire-format reader, mailboxes, and the streaming response
//!   body (heartbeats, limits) over any [`sse::EventSource`].
//! - Shared leaves: [`http`] (connection info, client address, error responses, body
//!   readers, the response body type), [`auth`] (access tokens), [`config`] (the TOML file
//!   and its validation into plain data), [`metrics`] (the Prometheus registry and the
//!   handles every layer counts with; imports nothing of the crate), [`files`] (operator
//!   files read with a size bound; imports nothing), [`h2wire`] (HTTP/2 frames and HPACK
//!   as data; imports nothing).
//! - [`admin`]: the admin listener (`/metrics`, `/healthz`, `/readyz`), apart from public
//!   traffic; only the server imports it.
//! - [`client`]: the client behind `ssegate publish` and `ssegate subscribe`.
//!
//! The command line lives in the binary (`src/main.rs`, `src/cli/`). The fuzz targets in
//! `fuzz/` reach two private parsers through `fuzzing`, built only with the `fuzzing`
//! feature.

pub mod acme;
pub mod admin;
pub mod auth;
pub mod certs;
pub mod client;
pub mod client_limit;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod demo;
pub mod files;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod h2wire;
pub mod http;
pub mod hub;
pub mod io;
pub mod mercure;
pub mod metrics;
pub mod native;
pub mod proxy_protocol;
pub mod router;
pub mod server;
pub mod shutdown;
pub mod sse;
pub mod stall;
pub mod tls;
pub mod workers;

pub use config::Config;
pub use server::Server;
