//! Issuer keys from every configured source, end to end: a token signed with a private key
//! generated here is accepted when the hub has the public key as a PEM file, in a JWK Set
//! file, or from a JWK Set URL (served by a loopback HTTP server the test runs), and refused
//! when signed by another key. HMAC secrets are what the other modules use.

use std::{convert::Infallible, net::SocketAddr, path::Path, time::Duration};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use ssegate::config::{RawIssuer, RawKey};

use crate::support::{
    mercure::{self, claims, detail, hub_url, now, publish, HUB, ISSUER, TTL},
    TestServer,
};

/// An ECDSA P-256 key pair: the private key signs test tokens, the public one goes to the hub.
struct EcKey {
    pair: rcgen::KeyPair,
    kid: &'static str,
}

impl EcKey {
    fn new(kid: &'static str) -> Self {
        Self {
            pair: rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            kid,
        }
    }

    fn sign(&self, server: &TestServer) -> String {
        let claims = claims(
            &hub_url(server),
            json!([detail(&["publish"], &[("*", "exact")])]),
            now() + TTL.as_secs(),
        );
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.into());
        let key = EncodingKey::from_ec_pem(self.pair.serialize_pem().as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    /// The public key as a JWK (RFC 7518: uncompressed point 0x04 || X || Y).
    fn jwk(&self) -> serde_json::Value {
        let raw = self.pair.public_key_raw();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": b64.encode(&raw[1..33]), "y": b64.encode(&raw[33..65]),
        })
    }
}

/// Starts a hub trusting [`ISSUER`] with `key` only.
async fn hub_with(key: RawKey) -> TestServer {
    mercure::start(|raw| {
        raw.hub.publish_auth = "required".into();
        raw.mercure.issuers = vec![RawIssuer {
            iss: ISSUER.into(),
            key,
        }];
    })
    .await
}

/// Publishes with `token` and returns the status.
async fn publish_status(server: &TestServer, token: &str) -> StatusCode {
    let mut client = server.h2().await;
    let pairs = [("topic", "https://example.com/keys"), ("data", "x")];
    publish(&mut client, HUB, Some(token), &pairs).await.0
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_pem_public_key_verifies_its_tokens_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = EcKey::new("pem");
    let pem = write(dir.path(), "issuer.pem", &key.pair.public_key_pem());
    let server = hub_with(RawKey {
        public_key_file: Some(pem),
        ..RawKey::default()
    })
    .await;
    assert_eq!(
        publish_status(&server, &key.sign(&server)).await,
        StatusCode::OK
    );
    let stranger = EcKey::new("pem");
    assert_eq!(
        publish_status(&server, &stranger.sign(&server)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_jwks_file_verifies_tokens_by_kid() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (EcKey::new("one"), EcKey::new("two"));
    let set = json!({ "keys": [one.jwk(), two.jwk()] }).to_string();
    let path = write(dir.path(), "jwks.json", &set);
    let server = hub_with(RawKey {
        jwks_file: Some(path),
        ..RawKey::default()
    })
    .await;
    assert_eq!(
        publish_status(&server, &one.sign(&server)).await,
        StatusCode::OK
    );
    assert_eq!(
        publish_status(&server, &two.sign(&server)).await,
        StatusCode::OK
    );
    assert_eq!(
        publish_status(&server, &EcKey::new("one").sign(&server)).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A loopback HTTP server answering every request with `body` (a JWK Set).
async fn serve_jwks(body: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        let mut response = Response::new(Full::new(Bytes::from(body)));
                        response.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/jwk-set+json"),
                        );
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_jwks_url_is_fetched_at_start_and_its_keys_verify_tokens() {
    let key = EcKey::new("remote");
    let addr = serve_jwks(json!({ "keys": [key.jwk()] }).to_string()).await;
    let server = hub_with(RawKey {
        jwks_url: Some(format!("http://127.0.0.1:{}/jwks.json", addr.port())),
        ..RawKey::default()
    })
    .await;
    // The first fetch runs in the background at start: wait for it (bounded).
    let token = key.sign(&server);
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let status = publish_status(&server, &token).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the JWK Set was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        publish_status(&server, &EcKey::new("remote").sign(&server)).await,
        StatusCode::UNAUTHORIZED
    );
    // The issuer fetched from a URL is advertised as an authorization server.
    let mut client = server.h2().await;
    let response = client
        .get("/.well-known/oauth-protected-resource/.well-known/mercure")
        .await;
    let (_, body) = crate::support::read_all(response).await;
    let metadata: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metadata["authorization_servers"], json!([ISSUER]));
}
