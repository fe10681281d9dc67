//! The admin listener: its token, liveness and readiness (which turns 503 before the drain
//! sends GOAWAY), the public `/healthz` switch, and the metric names the shipped Grafana
//! dashboard and a cluster node rely on.

use std::{collections::BTreeSet, time::Duration};

use http::StatusCode;

use crate::support::{
    admin::{admin_get, parse, scrape, value, wait_for_status},
    redis::RedisServer,
    TestServer, PATIENCE,
};

const TOKEN: &str = "admin-token-0123456789abcdef";

#[tokio::test]
async fn with_a_token_file_every_admin_route_needs_the_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin-token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let server = TestServer::start_with(|raw| raw.admin.token_file = Some(file)).await;
    let admin = server.admin_addr.unwrap();
    for path in ["/metrics", "/healthz", "/readyz"] {
        let (status, headers, _) = admin_get(admin, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without a token");
        assert!(headers.contains_key("www-authenticate"), "{path}");
        let (status, _, _) = admin_get(admin, path, Some("admin-token-wrong")).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
        let (status, _, body) = admin_get(admin, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{path} with the token: {body}");
    }
    let (_, _, body) = admin_get(admin, "/metrics", Some(TOKEN)).await;
    assert!(parse(&body).docs.contains_key("ssegate_streams_active"));
}

#[tokio::test]
async fn the_public_healthz_can_be_turned_off_while_the_admin_one_answers() {
    let on = TestServer::start().await;
    let (status, _) = on.h2().await.post("/healthz", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "served by default");
    let off = TestServer::start_with(|raw| raw.admin.public_healthz = false).await;
    let response = off.h2().await.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, _, body) = admin_get(off.admin_addr.unwrap(), "/healthz", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
}

#[tokio::test]
async fn a_disabled_admin_listener_binds_nothing() {
    let server = TestServer::start_with(|raw| raw.admin.enabled = false).await;
    assert_eq!(server.admin_addr, None);
}

#[tokio::test]
async fn readyz_turns_503_when_draining_starts_before_the_open_stream_gets_goaway() {
    let server = TestServer::start_with(|raw| raw.admin.unready_delay_secs = 1.0).await;
    let admin = server.admin_addr.unwrap();
    let (status, _, body) = admin_get(admin, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let tls = server.tls_connect(&[b"h2"]).await;
    let (send, connection) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(connection);
    let mut send = send.ready().await.unwrap();
    let url = format!("https://localhost:{}/events/lb", server.addr.port());
    let (response, _) = send
        .send_request(http::Request::get(&url).body(()).unwrap(), true)
        .unwrap();
    let mut body = response.await.unwrap().into_body();
    let opening = body.data().await.unwrap().unwrap();
    body.flow_control().release_capacity(opening.len()).unwrap();

    let stopping = tokio::spawn(server.shutdown());
    let unready = wait_for_status(admin, "/readyz", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(unready, "not ready: draining\n");
    // Not ready, and no GOAWAY yet: the connection still takes a new stream, and the open
    // one has not ended.
    let mut send = send.ready().await.expect("no GOAWAY yet");
    let (second, _) = send
        .send_request(http::Request::get(&url).body(()).unwrap(), true)
        .expect("a new stream is still accepted");
    assert_eq!(second.await.unwrap().status(), StatusCode::OK);
    let pending = tokio::time::timeout(Duration::from_millis(100), body.data()).await;
    assert!(pending.is_err(), "the stream is still open: {pending:?}");
    // Then the drain: GOAWAY, and the stream ends.
    loop {
        match tokio::time::timeout(PATIENCE, body.data()).await.unwrap() {
            None => break,
            Some(Ok(data)) => body.flow_control().release_capacity(data.len()).unwrap(),
            Some(Err(e)) => panic!("stream reset instead of ended: {e}"),
        }
    }
    let refused = match send.ready().await {
        Err(e) => Some(e),
        Ok(mut ready) => match ready.send_request(http::Request::get(&url).body(()).unwrap(), true)
        {
            Err(e) => Some(e),
            Ok((response, _)) => response.await.err(),
        },
    };
    assert!(refused.is_some(), "GOAWAY after readyz");
    stopping.await.unwrap();
}

/// The metric names a dashboard's queries use (`ssegate_...`), with the suffixes a family
/// is sampled under taken off.
fn dashboard_families() -> BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/ssegate-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let names = regex::Regex::new(r"ssegate_[a-z0-9_]+").unwrap();
    let mut families = BTreeSet::new();
    let mut exprs = Vec::new();
    fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match value {
                        serde_json::Value::String(s) if key == "expr" => out.push(s.clone()),
                        _ => collect(value, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&dashboard, &mut exprs);
    for expr in exprs {
        for name in names.find_iter(&expr) {
            let name = name.as_str();
            let family = ["_total", "_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            families.insert(family.to_owned());
        }
    }
    families
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    let families = dashboard_families();
    assert!(
        families.len() >= 15,
        "the dashboard's queries were read: {families:?}"
    );
    // A route, so the gateway's series exist (they are named after the configured routes).
    let server = TestServer::start_with(|raw| {
        raw.routes.push(ssegate::config::RawRoute {
            path: "/api".into(),
            upstream: "http://127.0.0.1:9".into(),
            ..ssegate::config::RawRoute::default()
        });
    })
    .await;
    let exported = scrape(&server).await.docs;
    let missing: Vec<&String> = families
        .iter()
        .filter(|f| !f.starts_with("ssegate_cluster_") && !exported.contains_key(*f))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    assert!(
        !exported.keys().any(|k| k.starts_with("ssegate_cluster_")),
        "cluster metrics only in cluster mode"
    );
}

#[tokio::test]
async fn a_cluster_node_reports_its_log_and_is_ready_while_redis_answers() {
    let redis = RedisServer::start().await;
    let node = TestServer::start_with(|raw| {
        raw.cluster.redis_url = Some(redis.url());
        raw.cluster.key_prefix = "metrics".into();
        raw.cluster.timeout_secs = 0.5;
    })
    .await;
    let mut client = node.h2().await;
    let mut stream = client.subscribe("/events/c").await;
    let (status, _) = client.post("/events/c", "through redis").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stream.take(1).await[0].data, "through redis");

    let metrics = scrape(&node).await;
    let appended = value(
        &metrics,
        "ssegate_cluster_append_latency_seconds_count",
        &[],
    );
    assert_eq!(appended, Some(1.0));
    let lag = value(&metrics, "ssegate_cluster_consumer_lag_seconds", &[]).unwrap();
    assert!(
        (0.0..5.0).contains(&lag),
        "lag of the entry just read: {lag}"
    );
    assert_eq!(
        value(&metrics, "ssegate_cluster_log_reachable", &[]),
        Some(1.0)
    );
    let missing: Vec<String> = dashboard_families()
        .into_iter()
        .filter(|f| f.starts_with("ssegate_cluster_") && !metrics.docs.contains_key(f))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    let (status, _, body) = admin_get(node.admin_addr.unwrap(), "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Redis gone: the node is not ready once its reads have failed for a while.
    drop(redis);
    let admin = node.admin_addr.unwrap();
    let body = wait_for_status(admin, "/readyz", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body, "not ready: shared log unreachable\n");
}
