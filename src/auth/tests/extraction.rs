//! Finding the token in a request: the `Authorization` header, the cookie, and (pre-1.0
//! only) the query string, with their precedence and the malformed presentations.

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, Uri};

use super::*;

#[test]
fn the_authorization_header_wins_over_the_cookie() {
    let map = headers(&[
        (AUTHORIZATION, "Bearer abc.def.ghi"),
        (COOKIE, "__Secure-mercure_access_token=cookie.tok.en"),
    ]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("abc.def.ghi", TokenSource::Header)
    );
}

#[test]
fn the_cookie_is_used_without_an_authorization_header() {
    let map = headers(&[
        (COOKIE, "a=b"),
        (
            COOKIE,
            "theme=dark; __Secure-mercure_access_token=\"x.y.z\"; other=1",
        ),
    ]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("x.y.z", TokenSource::Cookie)
    );
    let map = headers(&[(COOKIE, "hub2=x.y.z")]);
    assert_eq!(
        bearer_from_headers(&map, "hub2").unwrap(),
        presented("x.y.z", TokenSource::Cookie)
    );
    assert_eq!(bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(), None);
    let empty = headers(&[(COOKIE, "__Secure-mercure_access_token=")]);
    assert_eq!(bearer_from_headers(&empty, DEFAULT_COOKIE).unwrap(), None);
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let map = headers(&[(AUTHORIZATION, "bEaReR a.b.c")]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("a.b.c", TokenSource::Header)
    );
}

#[test]
fn another_authorization_scheme_does_not_hide_the_cookie() {
    let map = headers(&[
        (AUTHORIZATION, "Basic dXNlcjpwYXNz"),
        (COOKIE, "__Secure-mercure_access_token=c.o.k"),
    ]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("c.o.k", TokenSource::Cookie)
    );
    let map = headers(&[(AUTHORIZATION, "Basic dXNlcjpwYXNz")]);
    assert_eq!(bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(), None);
}

#[test]
fn malformed_presentations_are_invalid_requests() {
    for pairs in [
        vec![(AUTHORIZATION, "Bearer")],
        vec![(AUTHORIZATION, "Bearer ")],
        vec![(AUTHORIZATION, "Bearer a b")],
        vec![(AUTHORIZATION, "Bearer a,b")],
        vec![(AUTHORIZATION, "Bearer =abc")],
        vec![
            (AUTHORIZATION, "Bearer a.b.c"),
            (AUTHORIZATION, "Bearer d.e.f"),
        ],
        vec![(COOKIE, "__Secure-mercure_access_token=a b")],
    ] {
        let map = headers(&pairs);
        assert!(
            matches!(
                bearer_from_headers(&map, DEFAULT_COOKIE),
                Err(AuthError::InvalidRequest(_))
            ),
            "{pairs:?}"
        );
    }
    let map = headers(&[(AUTHORIZATION, "Bearer abc.def.gh==")]);
    assert_eq!(
        bearer_from_headers(&map, DEFAULT_COOKIE).unwrap(),
        presented("abc.def.gh==", TokenSource::Header)
    );
}

#[test]
fn the_query_string_is_never_read_for_1_0() {
    // bearer_from_headers has no access to the URI at all; the legacy reader does.
    let uri: Uri = "/.well-known/mercure?topic=x&authorization=q.u.e"
        .parse()
        .unwrap();
    assert_eq!(
        bearer_from_headers(&HeaderMap::new(), DEFAULT_COOKIE).unwrap(),
        None
    );
    assert_eq!(
        legacy_token_from_request(&uri, &HeaderMap::new(), LEGACY_COOKIE).unwrap(),
        presented("q.u.e", TokenSource::Query)
    );
}

#[test]
fn legacy_precedence_is_header_then_query_then_cookie() {
    let uri: Uri = "/.well-known/mercure?topic=x&authorization=q.u.e"
        .parse()
        .unwrap();
    let plain: Uri = "/.well-known/mercure?topic=x".parse().unwrap();
    let all = headers(&[
        (AUTHORIZATION, "Bearer h.e.a"),
        (COOKIE, "mercureAuthorization=c.o.o"),
    ]);
    let cookie_only = headers(&[(COOKIE, "mercureAuthorization=c.o.o")]);
    assert_eq!(
        legacy_token_from_request(&uri, &all, LEGACY_COOKIE).unwrap(),
        presented("h.e.a", TokenSource::Header)
    );
    assert_eq!(
        legacy_token_from_request(&uri, &cookie_only, LEGACY_COOKIE).unwrap(),
        presented("q.u.e", TokenSource::Query)
    );
    assert_eq!(
        legacy_token_from_request(&plain, &cookie_only, LEGACY_COOKIE).unwrap(),
        presented("c.o.o", TokenSource::Cookie)
    );
    assert_eq!(
        legacy_token_from_request(&plain, &HeaderMap::new(), LEGACY_COOKIE).unwrap(),
        None
    );
    let twice: Uri = "/?authorization=a.b.c&authorization=d.e.f".parse().unwrap();
    assert!(matches!(
        legacy_token_from_request(&twice, &HeaderMap::new(), LEGACY_COOKIE),
        Err(AuthError::InvalidRequest(_))
    ));
}

#[test]
fn presented_token_debug_hides_the_token() {
    let debug = format!("{:?}", presented("secret.token.value", TokenSource::Header));
    assert!(!debug.contains("secret"), "{debug}");
}
