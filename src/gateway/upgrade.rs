//! HTTP/1.1 `Upgrade` (WebSocket and others) passed through end to end: once both sides
//! answered `101 Switching Protocols`, the two upgraded connections are spliced.

use http::{header, Request};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// True for an HTTP/1.1 request asking to switch protocols.
pub fn is_upgrade_request<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Splices the client's and the upstream's upgraded connections until either side closes.
pub fn spawn_tunnel(client: OnUpgrade, upstream: OnUpgrade, route: String) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(%route, error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((up, down)) => tracing::debug!(%route, up, down, "upgraded connection closed"),
            Err(e) => tracing::debug!(%route, error = %e, "upgraded connection failed"),
        }
    });
}
