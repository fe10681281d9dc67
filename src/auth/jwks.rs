//! JWK Sets fetched by URL (an authorization server's `jwks_uri`), cached and refreshed on
//! an interval. The last good set is kept when a refresh fails, so an authorization server
//! outage does not lock every client out until its keys are back.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::{ClientConfig, RootCertStore};

use super::error::KeyError;
use super::key::Key;

/// Where and how to fetch a JWK Set.
#[derive(Debug, Clone)]
pub struct JwksFetchConfig {
    /// The JWK Set URL. Must be `https` unless [`JwksFetchConfig::allow_http`] is set.
    pub url: String,
    /// How often the set is fetched again.
    pub refresh: Duration,
    /// Deadline for one fetch: connect, response and body.
    pub timeout: Duration,
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Accept `http` URLs; for tests and loopback only, since the keys decide who is trusted.
    pub allow_http: bool,
    /// Trust anchors for the server certificate; the Mozilla roots when `None`.
    pub roots: Option<RootCertStore>,
}

impl JwksFetchConfig {
    /// Defaults for `url`: refresh every 5 minutes, 10 s deadline, 1 MiB, `https` only.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            refresh: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            max_bytes: 1024 * 1024,
            allow_http: false,
            roots: None,
        }
    }
}

/// A JWK Set kept up to date from a URL. Share it with [`Arc`]; register it with
/// [`super::Validator::with_remote_jwks`] and start [`RemoteJwks::spawn_refresh`].
pub struct RemoteJwks {
    url: Uri,
    config: JwksFetchConfig,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    keys: RwLock<Arc<Vec<Key>>>,
}

impl RemoteJwks {
    /// A set with no keys yet: call [`RemoteJwks::fetch`] (or let the refresh task do it).
    pub fn new(config: JwksFetchConfig) -> Result<Self, KeyError> {
        let url: Uri = config
            .url
            .parse()
            .map_err(|e: http::uri::InvalidUri| KeyError::Fetch(e.to_string()))?;
        match url.scheme_str() {
            Some("https") => {}
            Some("http") if config.allow_http => {}
            _ => return Err(KeyError::Fetch(format!("{url}: not an https URL"))),
        }
        let roots = config.roots.clone().unwrap_or_else(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            roots
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| KeyError::Fetch(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.timeout));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self {
            url,
            config,
            client,
            keys: RwLock::new(Arc::new(Vec::new())),
        })
    }

    /// The keys of the last successful fetch (none before the first).
    pub fn keys(&self) -> Arc<Vec<Key>> {
        match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            // A panic while swapping an Arc cannot leave it half-written.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Fetches the set now and, if it parses and has a usable key, replaces the cached keys.
    /// On failure the cached keys stay. Returns the number of keys.
    pub async fn fetch(&self) -> Result<usize, KeyError> {
        let keys = tokio::time::timeout(self.config.timeout, self.download())
            .await
            .map_err(|_| KeyError::Fetch(format!("{}: timed out", self.url)))??;
        let count = keys.len();
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut slot) => *slot = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        Ok(count)
    }

    async fn download(&self) -> Result<Vec<Key>, KeyError> {
        let fail = |why: String| KeyError::Fetch(format!("{}: {why}", self.url));
        let request = Request::get(self.url.clone())
            .header(
                http::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .body(Empty::new())
            .map_err(|e| fail(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if response.status() != StatusCode::OK {
            return Err(fail(format!("status {}", response.status())));
        }
        let body = Limited::new(response.into_body(), self.config.max_bytes)
            .collect()
            .await
            .map_err(|e| fail(e.to_string()))?
            .to_bytes();
        let text = std::str::from_utf8(&body).map_err(|e| fail(e.to_string()))?;
        Key::from_jwks_json(text)
    }

    /// Spawns the refresh loop: fetch now, then every `refresh`, until `shutdown` completes.
    /// Failures are logged and the previous keys kept.
    pub fn spawn_refresh(
        self: &Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            tokio::pin!(shutdown);
            loop {
                match this.fetch().await {
                    Ok(count) => tracing::debug!(url = %this.url, count, "JWK Set refreshed"),
                    Err(e) => {
                        tracing::warn!(error = %e, "JWK Set refresh failed; keeping the previous keys")
                    }
                }
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(this.config.refresh) => {}
                }
            }
        })
    }
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.url)
            .field("refresh", &self.config.refresh)
            .field("keys", &self.keys().len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Mutex;
    use std::time::{Instant, SystemTime};

    use http::Response;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{json, Value};
    use tokio::net::TcpListener;

    use super::*;
    use crate::auth::{AuthError, TokenError, Validator};

    const HUB: &str = "https://hub.example.com/.well-known/mercure";
    const ISS: &str = "https://as.example.com";

    /// What the test server answers: status and body, changed by the test between fetches.
    type Served = Arc<Mutex<(StatusCode, String)>>;

    /// A plain HTTP server on an ephemeral port answering every request with `served`.
    async fn serve(served: Served) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let served = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = service_fn(move |_req| {
                        let (status, body) = served.lock().unwrap().clone();
                        let response = Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from(body)))
                            .unwrap();
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let io = TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        format!("http://{addr}/jwks.json")
    }

    fn ec_key(kid: &str) -> (EncodingKey, Value) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let encoding = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.into());
        (encoding, serde_json::to_value(jwk).unwrap())
    }

    fn set(jwks: &[&Value]) -> (StatusCode, String) {
        (StatusCode::OK, json!({ "keys": jwks }).to_string())
    }

    fn token(encoding: &EncodingKey, kid: &str, iss: &str) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.into());
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({"iss": iss, "aud": HUB, "iat": now, "exp": now + 600});
        jsonwebtoken::encode(&header, &claims, encoding).unwrap()
    }

    fn remote(url: &str) -> Arc<RemoteJwks> {
        let mut config = JwksFetchConfig::new(url);
        config.allow_http = true;
        Arc::new(RemoteJwks::new(config).unwrap())
    }

    fn error(result: Result<impl std::fmt::Debug, AuthError>) -> TokenError {
        match result {
            Err(AuthError::InvalidToken(e)) => e,
            other => panic!("expected invalid_token, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn fetched_keys_verify_tokens_and_a_refetch_rotates_them() {
        let (enc1, jwk1) = ec_key("k1");
        let (enc2, jwk2) = ec_key("k2");
        let served: Served = Arc::new(Mutex::new(set(&[&jwk1])));
        let jwks = remote(&serve(Arc::clone(&served)).await);
        let validator = Validator::new(HUB, vec![]).with_remote_jwks(ISS, Arc::clone(&jwks));

        assert_eq!(jwks.fetch().await.unwrap(), 1);
        let now = SystemTime::now();
        validator.validate(&token(&enc1, "k1", ISS), now).unwrap();
        let rotated = token(&enc2, "k2", ISS);
        assert_eq!(
            error(validator.validate(&rotated, now)),
            TokenError::BadSignature
        );

        *served.lock().unwrap() = set(&[&jwk2]);
        jwks.fetch().await.unwrap();
        validator.validate(&rotated, now).unwrap();
        let retired = token(&enc1, "k1", ISS);
        assert_eq!(
            error(validator.validate(&retired, now)),
            TokenError::BadSignature
        );
    }

    #[tokio::test]
    async fn remote_keys_verify_only_their_issuer() {
        let (enc, jwk) = ec_key("k1");
        let served: Served = Arc::new(Mutex::new(set(&[&jwk])));
        let jwks = remote(&serve(served).await);
        jwks.fetch().await.unwrap();
        let validator = Validator::new(HUB, vec![]).with_remote_jwks(ISS, jwks);
        let other = token(&enc, "k1", "https://other.example");
        let result = validator.validate(&other, SystemTime::now());
        assert_eq!(error(result), TokenError::UntrustedIssuer);
    }

    #[tokio::test]
    async fn a_failed_fetch_keeps_the_previous_keys() {
        let (_, jwk) = ec_key("k1");
        let served: Served = Arc::new(Mutex::new(set(&[&jwk])));
        let jwks = remote(&serve(Arc::clone(&served)).await);
        jwks.fetch().await.unwrap();
        for answer in [
            (StatusCode::INTERNAL_SERVER_ERROR, String::new()),
            (StatusCode::OK, "not json".to_owned()),
            (StatusCode::OK, r#"{"keys": []}"#.to_owned()),
        ] {
            *served.lock().unwrap() = answer.clone();
            assert!(jwks.fetch().await.is_err(), "{answer:?}");
            assert_eq!(jwks.keys().len(), 1);
        }
    }

    #[tokio::test]
    async fn oversized_sets_are_refused() {
        let (_, jwk) = ec_key("k1");
        let url = serve(Arc::new(Mutex::new(set(&[&jwk])))).await;
        let mut config = JwksFetchConfig::new(url);
        config.allow_http = true;
        config.max_bytes = 16;
        let jwks = RemoteJwks::new(config).unwrap();
        assert!(matches!(jwks.fetch().await, Err(KeyError::Fetch(_))));
        assert!(jwks.keys().is_empty());
    }

    #[test]
    fn only_https_urls_unless_http_is_allowed() {
        for url in [
            "http://127.0.0.1/jwks",
            "ftp://example.com/jwks",
            "not a url",
        ] {
            let result = RemoteJwks::new(JwksFetchConfig::new(url));
            assert!(matches!(result, Err(KeyError::Fetch(_))), "{url}");
        }
        RemoteJwks::new(JwksFetchConfig::new("https://as.example.com/jwks")).unwrap();
    }

    #[tokio::test]
    async fn the_refresh_task_picks_up_rotated_keys() {
        let (_, jwk1) = ec_key("k1");
        let (_, jwk2) = ec_key("k2");
        let served: Served = Arc::new(Mutex::new(set(&[&jwk1])));
        let mut config = JwksFetchConfig::new(serve(Arc::clone(&served)).await);
        config.allow_http = true;
        config.refresh = Duration::from_millis(20);
        let jwks = Arc::new(RemoteJwks::new(config).unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = jwks.spawn_refresh(async move {
            let _ = stopped.await;
        });

        let kids = |jwks: &RemoteJwks| -> Vec<String> {
            jwks.keys()
                .iter()
                .filter_map(|k| k.kid().map(str::to_owned))
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while kids(&jwks) != ["k1"] {
            assert!(Instant::now() < deadline, "first fetch never happened");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        *served.lock().unwrap() = set(&[&jwk2]);
        while kids(&jwks) != ["k2"] {
            assert!(Instant::now() < deadline, "refresh never happened");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
