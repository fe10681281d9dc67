//! Integration tests: the real server, started in-process on an ephemeral loopback port, with
//! real TLS, HTTP/2 and HTTP/1.1 clients. One test binary, one module per concern.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod support;

mod acme;
mod admin;
mod architecture;
mod attacks;
mod bad_input;
mod browser;
mod certificates;
mod cli;
mod cli_client;
mod cli_publish_auth;
mod cluster;
mod cluster_faults;
mod cluster_sentinel;
mod deploy;
mod gateway;
mod heartbeat;
mod http2;
mod limits;
mod mercure;
mod metrics;
mod protocol;
mod replay;
mod shutdown;
mod slow_consumer;
mod soak;
mod streams;
mod upstreams;
