use super::*;

/// Decodes `input` cut into pieces of `step` bytes.
fn dechunk(input: &[u8], step: usize) -> Result<(Vec<u8>, bool), DirectBodyError> {
    let mut chunked = Chunked::default();
    let mut out = BytesMut::new();
    for piece in input.chunks(step) {
        chunked.decode(piece, &mut out)?;
    }
    Ok((out.to_vec(), chunked.is_done()))
}

#[test]
fn chunked_bodies_decode_whatever_the_slicing() {
    let body = b"5\r\nhello\r\n7;name=value\r\n, world\r\nA\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\nextra";
    for step in [1, 2, 3, 7, body.len()] {
        let (data, done) = dechunk(body, step).unwrap();
        assert_eq!(data, b"hello, world0123456789", "step {step}");
        assert!(done, "step {step}");
    }
}

#[test]
fn an_unfinished_chunked_body_is_not_done() {
    let (data, done) = dechunk(b"5\r\nhel", 2).unwrap();
    assert_eq!(data, b"hel");
    assert!(!done);
}

#[test]
fn broken_chunked_framing_is_an_error() {
    for bad in [
        &b"x\r\n"[..],
        b"\r\n",
        b"5\r\nhelloX",
        b"5\rX",
        b"ffffffffffffffffff\r\n",
    ] {
        assert!(
            dechunk(bad, 1).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn framing_follows_rfc_9112() {
    let framing = |headers: &[(&str, &str)], status: u16| {
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        for (name, value) in headers {
            response.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Framing::of(&response)
    };
    assert!(matches!(
        framing(&[("transfer-encoding", "chunked")], 200),
        Ok(Framing::Chunked(_))
    ));
    // Transfer-Encoding wins over Content-Length; a coding other than chunked last reads
    // until the upstream closes.
    assert!(matches!(
        framing(
            &[
                ("transfer-encoding", "gzip, chunked"),
                ("content-length", "3")
            ],
            200
        ),
        Ok(Framing::Chunked(_))
    ));
    assert!(matches!(
        framing(&[("transfer-encoding", "gzip")], 200),
        Ok(Framing::UntilClose)
    ));
    assert!(matches!(
        framing(&[("content-length", "12")], 200),
        Ok(Framing::Length(12))
    ));
    assert!(matches!(
        framing(&[("content-length", "0")], 200),
        Ok(Framing::Done)
    ));
    assert!(matches!(framing(&[], 200), Ok(Framing::UntilClose)));
    assert!(matches!(framing(&[], 204), Ok(Framing::Done)));
    assert!(framing(&[("content-length", "1"), ("content-length", "2")], 200).is_err());
    assert!(framing(&[("content-length", "-1")], 200).is_err());
}

#[test]
fn response_heads_parse_or_say_why_not() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-a: 1\r\nx-a: 2\r\n\r\ndata: x\n\n";
    let (response, consumed) = parse_head(head).unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get_all("x-a").iter().count(), 2);
    assert_eq!(&head[consumed..], b"data: x\n\n");
    assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-")
        .unwrap()
        .is_none());
    assert!(matches!(
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n"),
        Err(DirectError::Malformed(_))
    ));
}

#[test]
fn only_bodiless_event_stream_gets_to_http_upstreams_go_direct() {
    let parts = |method: Method, accept: &str| {
        let (parts, ()) = http::Request::builder()
            .method(method)
            .uri("http://upstream/feed")
            .header(header::ACCEPT, accept)
            .body(())
            .unwrap()
            .into_parts();
        parts
    };
    let sse = parts(Method::GET, "text/html, text/event-stream;q=0.9");
    assert!(is_direct(&sse, true, UpstreamProto::Http1));
    assert!(!is_direct(&sse, false, UpstreamProto::Http1));
    assert!(!is_direct(&sse, true, UpstreamProto::H2c));
    assert!(!is_direct(&sse, true, UpstreamProto::Https));
    assert!(!is_direct(
        &parts(Method::POST, "text/event-stream"),
        true,
        UpstreamProto::Http1
    ));
    assert!(!is_direct(
        &parts(Method::GET, "application/json"),
        true,
        UpstreamProto::Http1
    ));
}
