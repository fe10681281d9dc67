//! Requests for what the server does not serve: a method a resource does not allow (405
//! with `Allow`) and an unknown path (404).

use http::{header, StatusCode};

use super::{clients, expect_error};
use crate::support::{request, TestServer};

pub(super) async fn wrong_method_is_405_with_allow(server: &TestServer) {
    let cases = [
        ("PUT", "/events/x", "GET, POST"),
        ("DELETE", "/events/x", "GET, POST"),
        ("PATCH", "/events/x", "GET, POST"),
        ("POST", "/events", "GET"),
        ("DELETE", "/events", "GET"),
        ("POST", "/healthz", "GET, HEAD"),
        ("POST", "/", "GET, HEAD"),
    ];
    for (proto, mut client) in clients(server).await {
        for (method, path, allow) in cases {
            let response = client.send(request(method, path, "body")).await;
            let what = format!("{proto} {method} {path}");
            assert_eq!(
                response.headers().get(header::ALLOW).map(|v| v.as_bytes()),
                Some(allow.as_bytes()),
                "{what}"
            );
            expect_error(response, StatusCode::METHOD_NOT_ALLOWED, &what).await;
        }
    }
}

pub(super) async fn unknown_path_is_404(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        for (method, path) in [
            ("GET", "/nope"),
            ("POST", "/eventsx"),
            ("GET", "/healthz/x"),
        ] {
            let response = client.send(request(method, path, "")).await;
            let what = format!("{proto} {method} {path}");
            let message = expect_error(response, StatusCode::NOT_FOUND, &what).await;
            assert!(message.contains(path), "{what}: {message}");
        }
    }
}
