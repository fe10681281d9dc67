//! Pre-1.0 tokens: where they come from (the `Authorization` header, the `authorization`
//! query parameter, the `mercureAuthorization` cookie), expiry, RS256 and ES256 keys; and
//! 1.0 access tokens in compatibility mode, refused in the URI query.

use std::path::{Path, PathBuf};

use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use ssegate::config::RawKey;

use super::{
    data_of, forged, hub_query, legacy_hub, legacy_hub_with, open, open_as, publish_ok, reader,
    refused, writer, BOOKS, BOOK_1, BOOK_2, RSA_PRIVATE_PEM, RSA_PUBLIC_PEM,
};
use crate::support::mercure::{
    all_access, assert_invalid_token, bearer, detail, grant, legacy_sign, now, publish,
    publish_with, token, HUB, TTL,
};

#[tokio::test]
async fn subscriber_token_from_header_beats_query_beats_cookie() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let good = reader(&[BOOK_1]);
    let bad = forged(&[BOOK_1]);
    let cookie = |jwt: &str| format!("mercureAuthorization={jwt}");
    let path = |query_token: Option<&str>| {
        let mut pairs = vec![("topic", BOOK_1)];
        if let Some(jwt) = query_token {
            pairs.push(("authorization", jwt));
        }
        hub_query(&pairs)
    };
    // (header token, query token, cookie token): the one that counts is the good one.
    let accepted = [
        (Some(&good), None, None),
        (None, Some(&good), None),
        (None, None, Some(&good)),
        (Some(&good), Some(&bad), Some(&bad)),
        (None, Some(&good), Some(&bad)),
    ];
    for (n, (header, query, jar)) in accepted.into_iter().enumerate() {
        let mut headers = Vec::new();
        let authorization = header.map(|jwt| bearer(jwt));
        if let Some(value) = &authorization {
            headers.push(("authorization", value.as_str()));
        }
        let cookie_value = jar.map(|jwt| cookie(jwt));
        if let Some(value) = &cookie_value {
            headers.push(("cookie", value.as_str()));
        }
        let mut stream = open(&mut client, &path(query.map(String::as_str)), &headers).await;
        let secret = format!("private {n}");
        publish_ok(
            &mut client,
            &[("topic", BOOK_1), ("data", &secret), ("private", "on")],
        )
        .await;
        publish_ok(&mut client, &[("topic", BOOK_1), ("data", "public")]).await;
        assert_eq!(
            data_of(&mut stream, 2).await,
            [secret.as_str(), "public"],
            "case {n}: header {}, query {}, cookie {}",
            header.is_some(),
            query.is_some(),
            jar.is_some()
        );
    }

    // The forged token, where it takes precedence, is the one validated.
    let (status, _, body) = refused(
        &mut client,
        &path(Some(&good)),
        &[("authorization", &bearer(&bad))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, body) = refused(
        &mut client,
        &path(Some(&bad)),
        &[("cookie", &cookie(&good))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn publisher_token_may_come_from_the_query_or_the_cookie() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let mut observer = open(&mut client, &hub_query(&[("topic", "*")]), &[]).await;
    let path = hub_query(&[("authorization", &writer())]);
    let (status, _, body) = publish(
        &mut client,
        &path,
        None,
        &[("topic", BOOK_1), ("data", "query")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A cookie-borne token needs a same-origin request (CSRF defence).
    let cookie = format!("mercureAuthorization={}", writer());
    let origin = format!("https://localhost:{}", server.addr.port());
    let (status, _, body) = publish_with(
        &mut client,
        HUB,
        &[("cookie", &cookie), ("origin", &origin)],
        &[("topic", BOOK_1), ("data", "cookie")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = publish_with(
        &mut client,
        HUB,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
        &[("topic", BOOK_1), ("data", "cross-site")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    publish_ok(&mut client, &[("topic", BOOK_1), ("data", "marker")]).await;
    assert_eq!(
        data_of(&mut observer, 3).await,
        ["query", "cookie", "marker"]
    );
}

#[tokio::test]
async fn expired_pre_1_0_token_is_refused_and_exp_ends_the_stream() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    // Past the hub's 30-second leeway.
    let expired = legacy_sign(
        &json!({ "mercure": { "subscribe": ["*"], "publish": ["*"] }, "exp": now() - 120 }),
    );
    let answer = refused(
        &mut client,
        &hub_query(&[("topic", BOOK_1)]),
        &[("authorization", &bearer(&expired))],
    )
    .await;
    assert_invalid_token(&answer);
    let (status, _, body) = publish(&mut client, HUB, Some(&expired), &[("topic", BOOK_1)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // pre-1.0 "Subscribers": the connection is closed when the token expires.
    let soon = legacy_sign(&json!({ "mercure": { "subscribe": [BOOK_1] }, "exp": now() + 2 }));
    let mut stream = open_as(&mut client, &hub_query(&[("topic", BOOK_1)]), &soon).await;
    assert!(stream.next().await.is_none(), "the stream ends at exp");
}

#[tokio::test]
async fn rs256_and_es256_pre_1_0_tokens_verify_with_their_public_keys() {
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    let dir = tempfile::tempdir().expect("temp dir");
    let ec_public = dir.path().join("ec-public.pem");
    std::fs::write(&ec_public, ec.public_key_pem()).expect("write EC key");
    let rsa_public: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-only-rsa-public.pem");
    let server = legacy_hub_with(|raw| {
        for file in [rsa_public, ec_public] {
            raw.mercure.legacy_keys.push(RawKey {
                public_key_file: Some(file),
                ..RawKey::default()
            });
        }
    })
    .await;
    let mut client = server.h2().await;
    let claims = json!({
        "mercure": { "subscribe": [BOOKS], "publish": [BOOKS] },
        "exp": now() + 600,
    });
    let signed = |alg: Algorithm, typ: Option<&str>, key: &EncodingKey| {
        let mut header = Header::new(alg);
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, key).expect("token encodes")
    };
    // Tokens without `typ` are pre-1.0 tokens too.
    let rs256 = signed(
        Algorithm::RS256,
        None,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).expect("RSA key"),
    );
    let ec_key = |pair: &rcgen::KeyPair| {
        EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("EC key")
    };
    let es256 = signed(Algorithm::ES256, Some("JWT"), &ec_key(&ec));

    let mut stream = open_as(&mut client, &hub_query(&[("topic", BOOKS)]), &rs256).await;
    let (status, _, body) = publish(
        &mut client,
        HUB,
        Some(&es256),
        &[
            ("topic", BOOK_1),
            ("data", "ES256 to RS256"),
            ("private", "on"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = publish(
        &mut client,
        HUB,
        Some(&rs256),
        &[
            ("topic", BOOK_2),
            ("data", "RS256 to RS256"),
            ("private", "on"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        data_of(&mut stream, 2).await,
        ["ES256 to RS256", "RS256 to RS256"]
    );

    // Algorithm confusion (the RSA public key as an HMAC secret) and a stranger's EC key.
    let confused = signed(
        Algorithm::HS256,
        Some("JWT"),
        &EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()),
    );
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    let stranger = signed(Algorithm::ES256, Some("JWT"), &ec_key(&stranger));
    for (what, jwt) in [
        ("HS256 with the RSA key", &confused),
        ("unknown EC key", &stranger),
    ] {
        let (status, _, body) = publish(&mut client, HUB, Some(jwt), &[("topic", BOOK_1)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }
}

#[tokio::test]
async fn access_tokens_and_match_subscriptions_still_work_in_legacy_mode() {
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let reader_1_0 = grant(&server, &["subscribe"], &[(BOOK_1, "exact")]);
    let writer_1_0 = all_access(&server, &["publish"]);
    let authorization = bearer(&reader_1_0);
    let headers = [("authorization", authorization.as_str())];
    let mut by_topic = open(&mut client, &hub_query(&[("topic", BOOKS)]), &headers).await;
    let mut by_match = open(&mut client, &hub_query(&[("match", BOOK_1)]), &headers).await;
    let mut by_pattern = open(
        &mut client,
        &hub_query(&[("match_urlpattern", "https://example.com/books/:id")]),
        &[],
    )
    .await;

    for (data, private) in [("private", true), ("public", false)] {
        let mut pairs = vec![("topic", BOOK_1), ("data", data)];
        if private {
            pairs.push(("private", "on"));
        }
        let (status, _, body) = publish(&mut client, HUB, Some(&writer_1_0), &pairs).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(data_of(&mut by_topic, 2).await, ["private", "public"]);
    assert_eq!(data_of(&mut by_match, 2).await, ["private", "public"]);
    assert_eq!(data_of(&mut by_pattern, 1).await, ["public"]);

    // Access tokens are still held to the 1.0 rules: one for another hub is refused.
    let elsewhere = token(
        "https://other.example/.well-known/mercure",
        json!([detail(&["publish"], &[("*", "exact")])]),
        TTL,
    );
    let (status, _, body) = publish(&mut client, HUB, Some(&elsewhere), &[("topic", BOOK_1)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn access_token_in_the_authorization_query_parameter_is_refused() {
    // The `authorization` parameter is a pre-1.0 mechanism; draft "Presenting the Access
    // Token": hubs do not accept access tokens in the URI query, compatibility mode or not.
    let server = legacy_hub().await;
    let mut client = server.h2().await;
    let reader_1_0 = grant(&server, &["subscribe"], &[(BOOK_1, "exact")]);
    let (status, _, body) = refused(
        &mut client,
        &hub_query(&[("topic", BOOK_1), ("authorization", &reader_1_0)]),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let path = hub_query(&[("authorization", &all_access(&server, &["publish"]))]);
    let (status, _, body) = publish(&mut client, &path, None, &[("topic", BOOK_1)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
