//! Gateway mode: ssegate in front of existing HTTP and SSE backends.
//!
//! A front door: imports `http`, `sse` and `config`; never the hub, another front door, the
//! router or the edge.
//!
//! Requests that match a `[[route]]` are forwarded to its upstream with bodies streamed
//! both ways, never buffered. Event streams are relayed with heartbeats inserted between
//! events and no idle deadline; other responses keep the route's deadlines. Failures map
//! to `502` (connect, reset, malformed response) or `504` (no response headers in time).
//!
//! Layout: [`route`] (config and matching), [`client`] (pooled upstream clients),
//! [`direct`] (event-stream requests on a connection of their own, read by the stream),
//! [`headers`] (hop-by-hop and forwarding headers), [`relay`] (response bodies),
//! [`upgrade`] (HTTP/1.1 upgrades), [`fanout`] (one upstream stream shared by many clients).

pub mod client;
pub mod direct;
pub mod fanout;
pub mod headers;
pub mod relay;
pub mod route;
pub mod upgrade;

use std::{sync::Arc, time::Duration};

use http::{header, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::{
    config::{RouteConfig, UpstreamProto},
    http::{error, ConnInfo, ResponseBody},
    sse::{SseBody, StreamLimits},
};
use client::{ClientBuildError, UpstreamClient};
use fanout::Fanout;
use headers::{add_forwarding, append_via, strip_hop_by_hop, ForwardedFor};
use relay::{Draining, RelayedEvents, TimedBody};

/// One route with its client.
#[derive(Debug)]
pub struct Route {
    /// The route's settings.
    pub config: RouteConfig,
    client: UpstreamClient,
    fanout: Option<Fanout>,
    /// `path -> upstream`, for logs.
    label: Arc<str>,
}

/// The gateway: routes in matching order.
#[derive(Debug)]
pub struct Gateway {
    routes: Vec<Arc<Route>>,
    heartbeat: Duration,
    draining: Draining,
}

impl Gateway {
    /// Builds the clients of `routes` (already in matching order).
    pub fn new(routes: Vec<RouteConfig>, heartbeat: Duration) -> Result<Self, ClientBuildError> {
        let routes = routes
            .into_iter()
            .map(|config| {
                let client = UpstreamClient::new(&config)?;
                let fanout = config.fanout.then(|| Fanout::new(&config, client.clone()));
                let label = Arc::from(format!("{} -> {}", config.path, config.authority));
                Ok(Arc::new(Route {
                    config,
                    client,
                    fanout,
                    label,
                }))
            })
            .collect::<Result<Vec<_>, ClientBuildError>>()?;
        Ok(Self {
            routes,
            heartbeat,
            draining: Draining::default(),
        })
    }

    /// Ends every relayed and shared event stream (the server drains), as the hub ends its
    /// own: clients reconnect to another server instead of waiting for the deadline.
    pub fn shutdown(&self) {
        self.draining.start();
        for route in &self.routes {
            if let Some(fanout) = &route.fanout {
                fanout.shutdown();
            }
        }
    }

    /// Shared upstream streams open now, and the clients on them, over every route.
    pub fn fanout_counts(&self) -> (usize, usize) {
        self.routes
            .iter()
            .filter_map(|r| r.fanout.as_ref())
            .map(Fanout::counts)
            .fold((0, 0), |(u, s), (du, ds)| (u + du, s + ds))
    }

    /// True when no route is configured.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route serving `path` for `host`, if any.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.config.matches(host, path))
    }

    /// Forwards `req` to `route`'s upstream and relays the answer.
    pub async fn proxy<B>(&self, route: &Arc<Route>, mut req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let config = &route.config;
        let conn = req
            .extensions()
            .get::<ConnInfo>()
            .cloned()
            .unwrap_or_default();
        let host = request_host(&req);
        let version = req.version();
        let upgrade = upgrade::is_upgrade_request(&req);
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

        let (mut parts, body) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers, upgrade);
        let forwarded = ForwardedFor {
            // Each hop appends the address it received the request from; the resolved
            // client (conn.client_ip()) is for logs.
            client: conn.peer.ip(),
            https: conn.tls,
            host: host.clone(),
            trust_incoming: conn.trusted_proxy,
        };
        add_forwarding(&mut parts.headers, &forwarded, version);
        parts.headers.remove(header::HOST);
        if config.preserve_host {
            if let Some(value) = host.as_deref().and_then(|h| HeaderValue::from_str(h).ok()) {
                parts.headers.insert(header::HOST, value);
            }
        }
        let path_and_query = config.upstream_path_and_query(parts.uri.path(), parts.uri.query());
        parts.uri = match upstream_uri(config, &path_and_query) {
            Some(uri) => uri,
            None => return error(StatusCode::BAD_REQUEST, "request path cannot be forwarded"),
        };
        parts.version = match config.proto {
            UpstreamProto::H2c => Version::HTTP_2,
            _ => Version::HTTP_11,
        };

        if let Some(fanout) = &route.fanout {
            if fanout::is_shareable(&parts) {
                match fanout.subscribe(parts, self.heartbeat).await {
                    Ok(response) => return response,
                    // Resuming from where the shared stream cannot take it: relayed alone.
                    Err(unshared) => parts = unshared,
                }
            }
        }

        let total_deadline = config.total_timeout.map(|d| started + d);
        let header_deadline = match total_deadline {
            Some(total) => total.min(started + config.response_header_timeout),
            None => started + config.response_header_timeout,
        };
        let label = || &route.label;
        tracing::debug!(route = %label(), client = %conn.client_ip(), "proxying");

        if direct::is_direct(&parts, body.is_end_stream(), config.proto) {
            let response =
                match tokio::time::timeout_at(header_deadline, direct::request(config, &parts))
                    .await
                {
                    Err(_) => return upstream_timed_out(label()),
                    Ok(Err(e)) => return upstream_failed(label(), &e),
                    Ok(Ok(response)) => response,
                };
            return self.relay(route, response, total_deadline);
        }

        let body = body.map_err(Into::into).boxed_unsync();
        let request = Request::from_parts(parts, body);
        let mut response =
            match tokio::time::timeout_at(header_deadline, route.client.request(request)).await {
                Err(_) => return upstream_timed_out(label()),
                Ok(Err(e)) => return upstream_failed(label(), &e),
                Ok(Ok(response)) => response,
            };

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                tracing::warn!(route = %label(), "upstream switched protocols unasked");
                return error(StatusCode::BAD_GATEWAY, "unexpected upgrade from upstream");
            };
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            upgrade::spawn_tunnel(client_upgrade, upstream_upgrade, label().to_string());
            let (mut parts, _) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers, true);
            append_via(&mut parts.headers, Version::HTTP_11);
            return Response::from_parts(parts, ResponseBody::empty());
        }
        self.relay(route, response, total_deadline)
    }

    /// Relays an upstream response: an event stream event by event, anything else as it
    /// arrives under the route's deadlines.
    fn relay<B>(
        &self,
        route: &Route,
        response: Response<B>,
        total_deadline: Option<Instant>,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = bytes::Bytes> + Unpin + Send + std::fmt::Debug + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + std::fmt::Display,
    {
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        append_via(&mut parts.headers, parts.version);
        parts.version = Version::HTTP_11;
        let body = if is_event_stream(&parts.headers) {
            // A proxy in front of ssegate must not buffer the stream either.
            parts
                .headers
                .insert("x-accel-buffering", HeaderValue::from_static("no"));
            let events = RelayedEvents::new(body, &self.draining, route.label.clone());
            ResponseBody::events(SseBody::new(
                events,
                self.heartbeat,
                StreamLimits::default(),
                None,
            ))
        } else {
            let config = &route.config;
            ResponseBody::relay(TimedBody::new(body, config.idle_timeout, total_deadline))
        };
        Response::from_parts(parts, body)
    }
}

fn upstream_timed_out(label: &str) -> Response<ResponseBody> {
    tracing::warn!(route = %label, "upstream sent no response headers in time");
    error(StatusCode::GATEWAY_TIMEOUT, "upstream timed out")
}

fn upstream_failed(label: &str, e: &dyn std::error::Error) -> Response<ResponseBody> {
    tracing::warn!(route = %label, error = %error_chain(e), "upstream request failed");
    error(StatusCode::BAD_GATEWAY, "upstream unavailable")
}

/// The host a request is for: `:authority` (h2) or `Host` (HTTP/1.1), without the port.
pub fn request_host<B>(req: &Request<B>) -> Option<String> {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })?;
    let host = match authority.rsplit_once(':') {
        // An IPv6 literal keeps its brackets and colons.
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => {
            host
        }
        _ => authority.as_str(),
    };
    Some(host.to_ascii_lowercase())
}

fn upstream_uri(config: &RouteConfig, path_and_query: &str) -> Option<Uri> {
    let scheme = match config.proto {
        UpstreamProto::Https => "https",
        _ => "http",
    };
    Uri::builder()
        .scheme(scheme)
        .authority(config.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .ok()
}

/// True for `text/event-stream` (any parameters).
pub fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// An error and its sources on one line, for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
