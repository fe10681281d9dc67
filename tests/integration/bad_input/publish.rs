//! Publishing with a bad body or bad event fields: bodies that are not UTF-8, over the size
//! limit (declared, streamed over h2, chunked over HTTP/1.1) or stalled, and `event`, `id`
//! and `retry` values an event stream cannot carry.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

use super::wire::{
    expect_raw_json_error, h2_request, h2_send, h2_streaming, raw_http1, streamed, Then,
};
use super::{clients, expect_error, MAX_BODY};
use crate::support::{read_all, request, TestServer};

pub(super) async fn non_utf8_body_is_400_naming_utf8(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let body = Bytes::from_static(b"ok \xff\xfe not text");
        let response = client.send(request("POST", "/events/utf8", body)).await;
        let message = expect_error(response, StatusCode::BAD_REQUEST, proto).await;
        assert!(message.contains("UTF-8"), "{proto}: {message}");
    }
}

pub(super) async fn body_over_limit_with_content_length_is_413(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let mut req = request("POST", "/events/big", vec![b'a'; MAX_BODY + 1]);
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(MAX_BODY + 1));
        let response = client.send(req).await;
        let message = expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, proto).await;
        assert!(
            message.contains(&MAX_BODY.to_string()),
            "{proto}: {message}"
        );
    }
}

pub(super) async fn body_over_limit_streamed_without_length_over_h2_is_413(server: &TestServer) {
    let mut send = h2_streaming(server).await;
    // Two chunks crossing the limit, then a body that never ends: the answer must come
    // as soon as the limit is crossed, not at the end of the body.
    let chunks = vec![
        Bytes::from(vec![b'a'; MAX_BODY / 2]),
        Bytes::from(vec![b'a'; MAX_BODY / 2 + 1]),
    ];
    let req = h2_request(server, "POST", "/events/big", streamed(chunks, Then::Stall));
    assert!(req.headers().get(header::CONTENT_LENGTH).is_none());
    let response = h2_send(&mut send, req).await.expect("h2 response");
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "h2 streamed").await;
}

/// Debian 12's curl over HTTP/2, sending the body with its length and streamed without:
/// it must print the `413` JSON, not "Stream error in the HTTP/2 framing layer" (which a
/// stream reset right after the answer gives).
pub(super) async fn body_over_limit_reaches_curl_over_h2_as_the_413_json(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'a'; 64 * MAX_BODY]).unwrap();
    let url = format!("https://localhost:{}/events/big", server.addr.port());
    let ca = server.cert_dir.join("ca.pem");
    let declared = vec!["--data-binary".to_owned(), format!("@{}", big.display())];
    let streamed = vec![
        "-X".to_owned(),
        "POST".to_owned(),
        "-T".to_owned(),
        "-".to_owned(),
    ];
    for (how, upload) in [("with its length", declared), ("streamed", streamed)] {
        let output = tokio::process::Command::new("curl")
            .args(["-sS", "--http2", "--max-time", "10", "-w", "\n%{http_code}"])
            .arg("--cacert")
            .arg(&ca)
            .args(upload)
            .arg(&url)
            .stdin(std::fs::File::open(&big).unwrap())
            .output()
            .await
            .expect("curl runs (scripts/test installs it)");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "curl {how}: {:?} {}{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let (body, code) = stdout.rsplit_once('\n').unwrap();
        assert_eq!(code, "413", "curl {how}: {stdout}");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON error body");
        assert!(json["error"].as_str().unwrap().contains("limit"), "{body}");
    }
}

pub(super) async fn body_over_limit_chunked_over_http1_is_413(server: &TestServer) {
    let mut raw = b"POST /events/big HTTP/1.1\r\nHost: localhost\r\n\
                    Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(format!("{MAX_BODY:x}\r\n").as_bytes());
    raw.extend(std::iter::repeat_n(b'a', MAX_BODY));
    raw.extend_from_slice(b"\r\n1\r\na\r\n0\r\n\r\n");
    let response = raw_http1(server, &raw).await;
    assert_eq!(response.status(), Some(413), "{}", response.head());
    expect_raw_json_error(&response, "http/1.1 chunked");
}

pub(super) async fn body_exactly_at_limit_is_published(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let (status, body) = client.post("/events/fits", vec![b'a'; MAX_BODY]).await;
        assert_eq!(status, StatusCode::OK, "{proto}: {body}");
    }
    // Without a declared length the limit is counted as the body arrives.
    let mut send = h2_streaming(server).await;
    let chunks = vec![
        Bytes::from(vec![b'a'; MAX_BODY / 2]),
        Bytes::from(vec![b'a'; MAX_BODY / 2]),
    ];
    let req = h2_request(server, "POST", "/events/fits", streamed(chunks, Then::End));
    let response = h2_send(&mut send, req).await.expect("h2 response");
    let (status, body) = read_all(response).await;
    assert_eq!(status, StatusCode::OK, "h2 streamed: {body}");
}

pub(super) async fn body_that_stalls_is_408(server: &TestServer) {
    let mut send = h2_streaming(server).await;
    let req = h2_request(
        server,
        "POST",
        "/events/slow",
        streamed(vec![Bytes::from_static(b"partial")], Then::Stall),
    );
    let response = h2_send(&mut send, req).await.expect("h2 response");
    expect_error(response, StatusCode::REQUEST_TIMEOUT, "h2 stalled body").await;

    // HTTP/1.1: a declared length that the body never reaches.
    let raw = b"POST /events/slow HTTP/1.1\r\nHost: localhost\r\n\
                Content-Length: 100\r\n\r\npartial";
    let response = raw_http1(server, raw).await;
    assert_eq!(response.status(), Some(408), "{}", response.head());
    expect_raw_json_error(&response, "http/1.1 stalled body");
}

pub(super) async fn event_type_with_line_feed_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let response = client
            .send(request("POST", "/events/x?event=a%0Adata:x", "body"))
            .await;
        let message = expect_error(response, StatusCode::BAD_REQUEST, proto).await;
        assert!(message.contains("event"), "{proto}: {message}");
    }
}

pub(super) async fn id_with_carriage_return_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let response = client
            .send(request("POST", "/events/x?id=a%0Db", "body"))
            .await;
        let message = expect_error(response, StatusCode::BAD_REQUEST, proto).await;
        assert!(message.contains("id"), "{proto}: {message}");
    }
}

pub(super) async fn id_of_digits_only_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let response = client
            .send(request("POST", "/events/x?id=12345", "body"))
            .await;
        let message = expect_error(response, StatusCode::BAD_REQUEST, proto).await;
        assert!(message.contains("digits"), "{proto}: {message}");
    }
}

pub(super) async fn empty_id_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let response = client.send(request("POST", "/events/x?id=", "body")).await;
        let message = expect_error(response, StatusCode::BAD_REQUEST, proto).await;
        assert!(message.contains("empty"), "{proto}: {message}");
    }
}

pub(super) async fn duplicate_publisher_id_is_409(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        let path = format!("/events/x?id=dup-{}", proto.replace('/', "-"));
        let (status, body) = client.post(&path, "first").await;
        assert_eq!(status, StatusCode::OK, "{proto}: {body}");
        let response = client.send(request("POST", &path, "second")).await;
        let message = expect_error(response, StatusCode::CONFLICT, proto).await;
        assert!(message.contains("dup-"), "{proto}: {message}");
    }
}

pub(super) async fn retry_that_is_not_a_number_is_400(server: &TestServer) {
    for (proto, mut client) in clients(server).await {
        for retry in ["abc", "-1", "1.5", ""] {
            let path = format!("/events/x?retry={retry}");
            let response = client.send(request("POST", &path, "body")).await;
            let message = expect_error(response, StatusCode::BAD_REQUEST, proto).await;
            assert!(message.contains("retry"), "{proto} {path}: {message}");
        }
    }
}
