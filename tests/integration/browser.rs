//! Real browsers against the real server: Debian's chromium, driven by playwright-core
//! (`tests/browser/run.mjs`), loads a page ssegate serves and uses the hub as a web app
//! would, so browser behaviour (EventSource, fetch, ALPN, certificate checks) is tested
//! rather than assumed.

use crate::support::{browser::run_scenario, TestServer};

#[tokio::test]
async fn chromium_receives_its_own_publish_over_h2() {
    let server = TestServer::start().await;
    let page = format!("https://localhost:{}/", server.addr.port());
    let result = run_scenario(
        &server,
        "native-h2.mjs",
        &page,
        &[("topic", "browser-test"), ("body", "hello from chromium")],
    )
    .await;
    assert_eq!(result["data"], "hello from chromium", "{result}");
    assert_eq!(result["protocol"], "h2", "the fetch's protocol: {result}");
    assert_eq!(
        result["eventSourceProtocol"], "h2",
        "the EventSource's protocol: {result}"
    );
    server.shutdown().await;
}
