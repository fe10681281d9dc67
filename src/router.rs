//! The request router: the handler every listener and protocol shares. It answers
//! `/healthz` itself and hands every other request to the front door that serves its path,
//! in this order: the Mercure hub's paths, the native API, the gateway's routes, the demo
//! page.
//!
//! | route | method | what |
//! | --- | --- | --- |
//! | `/healthz` | GET, HEAD | liveness and hub counters (JSON) |
//! | `/.well-known/acme-challenge/{token}` | GET | an ACME CA's http-01 validation (`[tls.acme]`) |
//! | `/.well-known/mercure` (the Mercure hub URL's path) | GET, QUERY, POST, OPTIONS | Mercure subscription and publication |
//! | `/.well-known/mercure/subscriptions[/...]` | GET | Mercure subscription API |
//! | `/.well-known/oauth-protected-resource/.well-known/mercure` | GET | the hub's OAuth metadata |
//! | `/events/{topic}` | GET | subscribe to one topic |
//! | `/events/{topic}` | POST | publish the body to the topic |
//! | `/events?topic=a&topic=b` | GET | subscribe to several topics on one stream |
//! | any `[[route]]` prefix | any | forwarded to the route's upstream |
//! | `/` | GET | the demo page (unless a gateway route serves `/`) |
//!
//! Imports the front doors (`native`, `mercure`, `gateway`, `demo`), the hub's counters,
//! `http` and `metrics`; only the edge (`conn`) and the server's assembly import it.
//!
//! It is also where requests are counted by front door: the event streams a front door
//! answers with are handed that front door's stream metrics, publications are counted by
//! their status, and gateway requests by route, so the front doors need not know metrics.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;

use crate::{
    gateway::{request_host, Gateway},
    http::{error, json, method_not_allowed, Http01Challenges, ResponseBody},
    hub::Hub,
    mercure::Mercure,
    metrics::{FrontDoor, Metrics, StreamMetrics},
    native::NativeApi,
};

/// The request handler. Cheap to clone: one per connection.
#[derive(Debug, Clone)]
pub struct App {
    hub: Arc<Hub>,
    native: Option<Arc<NativeApi>>,
    mercure: Option<Arc<Mercure>>,
    gateway: Option<Arc<Gateway>>,
    demo: bool,
    acme: Option<Arc<Http01Challenges>>,
    public_healthz: bool,
    counted: Option<Arc<Counted>>,
}

/// The metrics the router counts with, and each front door's stream handles.
#[derive(Debug)]
struct Counted {
    metrics: Arc<Metrics>,
    events: Arc<StreamMetrics>,
    mercure: Arc<StreamMetrics>,
    gateway: Arc<StreamMetrics>,
}

impl App {
    /// A handler reporting `hub`'s counters, with no front door yet.
    pub fn new(hub: Arc<Hub>) -> Self {
        Self {
            hub,
            native: None,
            mercure: None,
            gateway: None,
            demo: false,
            acme: None,
            public_healthz: true,
            counted: None,
        }
    }

    /// Counts streams, publications and gateway requests in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.counted = Some(Arc::new(Counted {
            events: metrics.streams(FrontDoor::Events),
            mercure: metrics.streams(FrontDoor::Mercure),
            gateway: metrics.streams(FrontDoor::Gateway),
            metrics,
        }));
        self
    }

    /// Answers `/healthz` on the public listeners (the admin listener always does).
    pub fn with_public_healthz(mut self, on: bool) -> Self {
        self.public_healthz = on;
        self
    }

    /// Serves the native API.
    pub fn with_native(mut self, native: Option<NativeApi>) -> Self {
        self.native = native.map(Arc::new);
        self
    }

    /// Serves the Mercure hub.
    pub fn with_mercure(mut self, mercure: Option<Arc<Mercure>>) -> Self {
        self.mercure = mercure;
        self
    }

    /// Serves the gateway's routes, if it has any.
    pub fn with_gateway(mut self, gateway: Option<Arc<Gateway>>) -> Self {
        self.gateway = gateway.filter(|g| !g.is_empty());
        self
    }

    /// Serves the demo page at `/`.
    pub fn with_demo(mut self, demo: bool) -> Self {
        self.demo = demo;
        self
    }

    /// Answers an ACME CA's http-01 validations.
    pub fn with_acme(mut self, challenges: Option<Arc<Http01Challenges>>) -> Self {
        self.acme = challenges;
        self
    }

    /// Answers one request. Never fails: every error is a response.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path();
        if path == "/healthz" && self.public_healthz {
            return match *req.method() {
                Method::GET | Method::HEAD => self.health(),
                _ => method_not_allowed("GET, HEAD"),
            };
        }
        if let Some(response) = self.acme.as_ref().and_then(|acme| acme.respond(path)) {
            return response;
        }
        let publish = req.method() == Method::POST;
        if let Some(mercure) = self.mercure.as_ref().filter(|m| m.serves(path)) {
            let response = mercure.handle(req).await;
            return self.count(FrontDoor::Mercure, publish, response);
        }
        if let Some(native) = self.native.as_ref().filter(|n| n.serves(path)) {
            let response = native.handle(req).await;
            return self.count(FrontDoor::Events, publish, response);
        }
        if let Some(gateway) = &self.gateway {
            let host = request_host(&req);
            if let Some(route) = gateway.find(host.as_deref(), path) {
                let route = route.clone();
                let started = Instant::now();
                let response = gateway.proxy(&route, req).await;
                if let Some(counted) = &self.counted {
                    let name = route.config.metric_label();
                    let status = response.status().as_u16();
                    counted
                        .metrics
                        .upstream_answered(&name, status, started.elapsed());
                }
                return self.count(FrontDoor::Gateway, false, response);
            }
        }
        if path == "/" && self.demo {
            return match *req.method() {
                Method::GET | Method::HEAD => crate::demo::demo_page().map(ResponseBody::Full),
                _ => method_not_allowed("GET, HEAD"),
            };
        }
        if path == "/favicon.ico" {
            // Browsers ask for it with every page; a 404 would log a console error.
            let mut response = Response::new(ResponseBody::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            return response;
        }
        error(StatusCode::NOT_FOUND, format!("no route for {path}"))
    }

    /// Counts a front door's answer: its event stream from now on, a publication by status.
    fn count(
        &self,
        door: FrontDoor,
        publish: bool,
        mut response: Response<ResponseBody>,
    ) -> Response<ResponseBody> {
        let Some(counted) = &self.counted else {
            return response;
        };
        if publish && door != FrontDoor::Gateway {
            counted
                .metrics
                .publish_answered(door, response.status().as_u16());
        }
        if let ResponseBody::Events(body) = response.body_mut() {
            let handles = match door {
                FrontDoor::Events => &counted.events,
                FrontDoor::Mercure => &counted.mercure,
                FrontDoor::Gateway => &counted.gateway,
            };
            body.observe(handles.clone());
        }
        response
    }

    fn health(&self) -> Response<ResponseBody> {
        let body = serde_json::json!({ "status": "ok", "hub": self.hub.stats() });
        json(StatusCode::OK, &body)
    }
}
