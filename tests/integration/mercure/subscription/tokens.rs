//! Subscriber tokens when anonymous access is off (`anonymous = false`): the challenge without
//! a token, refusals of bad tokens, the cookie, the `Authorization` header winning over it, and
//! tokens in the URL refused.

use http::StatusCode;
use serde_json::json;

use super::{marker, next_data, open_with, private, token_with, BOOK_1, MARKER};
use crate::support::{
    mercure::{
        self, all_access, answer, assert_challenge, assert_invalid_token, bare_challenge, bearer,
        challenge, detail, get_with, now, subscribe_path, token, TTL,
    },
    TestServer,
};

async fn start_closed() -> TestServer {
    mercure::start(|raw| raw.mercure.anonymous = false).await
}

#[tokio::test]
async fn without_anonymous_access_no_token_is_401_with_a_challenge_without_error_code() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    let (status, headers, body) = answer(
        &mut client,
        get_with(&subscribe_path(&[("match", BOOK_1)]), &[]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(challenge(&headers), bare_challenge(&server));
}

#[tokio::test]
async fn without_anonymous_access_a_bad_token_is_401_invalid_token() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    // Past `exp` by more than the 30 s leeway.
    let expired = token_with(&server, now() - 120, "at+jwt");
    // A plain JWT is not an access token.
    let not_at_jwt = token_with(&server, now() + 600, "JWT");
    let wrong_audience = token(
        "https://elsewhere.example/.well-known/mercure",
        json!([detail(&["subscribe"], &[("*", "exact")])]),
        TTL,
    );
    let bad_signature = {
        let good = all_access(&server, &["subscribe"]);
        let (rest, signature) = good.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        format!("{rest}.{flipped}{}", &signature[1..])
    };
    for (what, bad) in [
        ("expired", expired),
        ("typ JWT", not_at_jwt),
        ("wrong audience", wrong_audience),
        ("bad signature", bad_signature),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        for (name, value) in [
            ("authorization", bearer(&bad)),
            ("cookie", format!("__Secure-mercure_access_token={bad}")),
        ] {
            let answer = answer(
                &mut client,
                get_with(&subscribe_path(&[("match", BOOK_1)]), &[(name, &value)]),
            )
            .await;
            assert_challenge(
                &server,
                &format!("{what} in {name}"),
                &answer,
                StatusCode::UNAUTHORIZED,
                "invalid_token",
            );
        }
    }
}

#[tokio::test]
async fn without_anonymous_access_a_token_in_the_cookie_is_accepted() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    let reader = all_access(&server, &["subscribe"]);
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[(
            "cookie",
            &format!("theme=dark; __Secure-mercure_access_token={reader}"),
        )],
    )
    .await;
    private(&mut client, &server, BOOK_1, "private").await;
    assert_eq!(next_data(&mut stream, 1).await, ["private"]);
}

#[tokio::test]
async fn an_authorization_header_wins_over_the_cookie() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    let good = all_access(&server, &["subscribe"]);
    let cookie = "__Secure-mercure_access_token=not.a.jwt";
    let mut stream = open_with(
        &mut client,
        &[("match", BOOK_1)],
        &[("cookie", cookie), ("authorization", &bearer(&good))],
    )
    .await;
    private(&mut client, &server, BOOK_1, "private").await;
    assert_eq!(next_data(&mut stream, 1).await, ["private"]);
    // And a bad header is not rescued by a good cookie.
    let answer = answer(
        &mut client,
        get_with(
            &subscribe_path(&[("match", BOOK_1)]),
            &[
                ("cookie", &format!("__Secure-mercure_access_token={good}")),
                ("authorization", "Bearer not.a.jwt"),
            ],
        ),
    )
    .await;
    assert_invalid_token(&answer);
}

#[tokio::test]
async fn tokens_in_the_url_are_not_accepted() {
    let server = start_closed().await;
    let mut client = server.h2().await;
    let good = all_access(&server, &["subscribe"]);
    for parameter in ["access_token", "authorization"] {
        let path = subscribe_path(&[("match", BOOK_1), (parameter, &good)]);
        let (status, headers, body) = answer(&mut client, get_with(&path, &[])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{parameter}: {body}");
        // As if no token was presented at all.
        assert!(!challenge(&headers).contains("error="));
    }
    // With anonymous access on, a URL token does not unlock private updates either.
    let open_server = mercure::start(|_| {}).await;
    let mut client = open_server.h2().await;
    let good = all_access(&open_server, &["subscribe"]);
    let mut stream = client
        .subscribe(&subscribe_path(&[
            ("match", BOOK_1),
            ("match", MARKER),
            ("access_token", &good),
            ("authorization", &good),
        ]))
        .await;
    private(&mut client, &open_server, BOOK_1, "private").await;
    marker(&mut client, &open_server, "marker").await;
    assert_eq!(next_data(&mut stream, 1).await, ["marker"]);
}
