//! Error responses (draft "Error Responses", RFC 6750): the challenge without an error code
//! when no token is presented, `invalid_token` for tokens expired, wrongly signed, for another
//! audience, from an untrusted issuer or not access tokens, `invalid_request` for a malformed
//! `Authorization` header, and the scope a publisher's token must grant: every topic of the
//! update, `urlpattern` grants covering the topics they match.

use http::StatusCode;
use serde_json::{json, Value};

use super::{marker, publisher_claims, start_required, BOOK};
use crate::support::mercure::{
    all_access, assert_challenge, bare_challenge, challenge, grant, now, publish, publish_with,
    sign, subscribe, HUB, SECRET,
};

#[tokio::test]
async fn publishing_without_a_token_gets_a_challenge_without_error_code() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let (status, headers, body) = publish(&mut client, HUB, None, &[("topic", BOOK)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(challenge(&headers), bare_challenge(&server));
}

#[tokio::test]
async fn invalid_tokens_are_refused_with_invalid_token() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let valid = publisher_claims(&server);
    // The unspoiled claims pass: every refusal below is due to its one change.
    let ok = publish(
        &mut client,
        HUB,
        Some(&sign(&valid, "at+jwt", SECRET)),
        &[("topic", BOOK)],
    )
    .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.2);

    let with = |changes: Value| {
        let mut claims = valid.clone();
        for (k, v) in changes.as_object().expect("object") {
            claims[k] = v.clone();
        }
        claims
    };
    let past = now() - 600;
    let cases = [
        (
            "expired",
            sign(
                &with(json!({"iat": past - 60, "exp": past})),
                "at+jwt",
                SECRET,
            ),
        ),
        (
            "wrong signature",
            sign(&valid, "at+jwt", "another-secret-of-at-least-32-bytes-0123"),
        ),
        (
            "wrong audience",
            sign(
                &with(json!({"aud": "https://other.example/.well-known/mercure"})),
                "at+jwt",
                SECRET,
            ),
        ),
        (
            "untrusted issuer",
            sign(
                &with(json!({"iss": "https://untrusted.example"})),
                "at+jwt",
                SECRET,
            ),
        ),
        ("typ JWT", sign(&valid, "JWT", SECRET)),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (case, bad) in cases {
        let answer = publish(&mut client, HUB, Some(&bad), &[("topic", BOOK)]).await;
        assert_challenge(
            &server,
            case,
            &answer,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        );
    }
}

#[tokio::test]
async fn a_malformed_authorization_header_is_invalid_request() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    for value in ["Bearer a b", "Bearer ", "Bearer a,b"] {
        let answer = publish_with(
            &mut client,
            HUB,
            &[("authorization", value)],
            &[("topic", BOOK)],
        )
        .await;
        assert_challenge(
            &server,
            value,
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
}

#[tokio::test]
async fn a_token_must_grant_every_topic_of_the_update() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let alternate = "https://example.com/authors/9";
    let mut of_book = subscribe(&mut client, &[BOOK]).await;
    let mut of_alternate = subscribe(&mut client, &[alternate]).await;
    let narrow = grant(&server, &["publish"], &[(BOOK, "exact")]);

    let answer = publish(
        &mut client,
        HUB,
        Some(&narrow),
        &[("topic", BOOK), ("topic", alternate), ("data", "leak")],
    )
    .await;
    assert_challenge(
        &server,
        "uncovered alternate",
        &answer,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    // The canonical topic alone is covered.
    let (status, _, only_book) = publish(
        &mut client,
        HUB,
        Some(&narrow),
        &[("topic", BOOK), ("data", "allowed")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{only_book}");

    let writer = all_access(&server, &["publish"]);
    let book_marker = marker(&mut client, &writer, BOOK).await;
    let alternate_marker = marker(&mut client, &writer, alternate).await;
    let got: Vec<String> = of_book.take(2).await.into_iter().map(|e| e.id).collect();
    assert_eq!(
        got,
        [only_book, book_marker],
        "the refused update never came"
    );
    let next = of_alternate.next().await.expect("the marker");
    assert_eq!(next.id, alternate_marker, "the refused update never came");
}

#[tokio::test]
async fn urlpattern_grants_cover_the_topics_they_match() {
    let server = start_required(|_| {}).await;
    let mut client = server.h2().await;
    let books = grant(
        &server,
        &["publish"],
        &[("https://example.com/books/:id", "urlpattern")],
    );
    for topic in [
        "https://example.com/books/2",
        "https://example.com/books/abc",
    ] {
        let (status, _, body) = publish(&mut client, HUB, Some(&books), &[("topic", topic)]).await;
        assert_eq!(status, StatusCode::OK, "{topic}: {body}");
    }
    for topic in [
        "https://example.com/authors/2",
        "https://example.com/books/2/reviews",
        "https://other.example/books/2",
    ] {
        let answer = publish(&mut client, HUB, Some(&books), &[("topic", topic)]).await;
        assert_challenge(
            &server,
            topic,
            &answer,
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        );
    }
    // A subscribe-only grant does not publish.
    let reader = grant(&server, &["subscribe"], &[("*", "exact")]);
    let answer = publish(&mut client, HUB, Some(&reader), &[("topic", BOOK)]).await;
    assert_challenge(
        &server,
        "subscribe only",
        &answer,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
}
