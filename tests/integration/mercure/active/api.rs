//! The subscription API (draft "Subscription API"): the collection (cursor `Link`, ETag, the
//! announced documents), per-matcher collections and single subscriptions, the `subscribe`
//! grant each path needs, the `Link` header exposed to CORS clients, and the cursor: passed back
//! as `Last-Event-ID` it loses no event, and it stays well-formed whatever the ids.

use http::StatusCode;
use serde_json::{json, Value};

use super::{
    api_get, api_ok, assert_next_is_marker, document, documents_by_match, encoded_subscriber,
    link_cursor, listed, next_foreign, open, open_payload_subscriber, open_watcher, publish_public,
    sorted, subscribe_token, API, BOOKS, BOOKS_ENCODED, MARKER, ODD, ODD_ENCODED, PREFIX, WATCH,
};
use crate::support::mercure::{
    self, all_access, answer, bearer, detail, get_with, hub_url, metadata_url, publish_ok, token,
    Answer, TTL,
};

#[tokio::test]
async fn api_collection_has_cursor_link_etag_and_the_announced_documents() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let collection_token = subscribe_token(&server, PREFIX, "exact");

    let before = api_get(&mut client, PREFIX, Some(&collection_token)).await;
    let (body, cursor) = api_ok(&server, &before, "application/json");
    assert_eq!(cursor, "earliest", "nothing dispatched yet");
    assert_eq!(before.1["etag"], "\"earliest\"");
    assert_eq!(
        body,
        json!({"id": PREFIX, "type": "subscriptions", "subscriptions": []})
    );

    let mut watcher = open_watcher(&server, &mut client, &[]).await;
    let mut other = server.h2().await;
    let _subscriber = open_payload_subscriber(&server, &mut other).await;
    let first = next_foreign(&mut watcher, &[WATCH]).await;
    let last = next_foreign(&mut watcher, &[WATCH]).await;
    let announced = sorted(vec![document(&first), document(&last)]);
    let subscriber = announced[0]["subscriber"].clone();

    let answer = api_get(&mut client, PREFIX, Some(&collection_token)).await;
    let (body, cursor) = api_ok(&server, &answer, "application/json");
    assert_eq!(
        cursor, last.id,
        "the last dispatched event: the second announcement"
    );
    assert_eq!(answer.1["etag"], format!("\"{}\"", last.id));
    assert_eq!(
        (&body["id"], &body["type"]),
        (&json!(PREFIX), &json!("subscriptions"))
    );
    let all = listed(&body);
    // The watcher's own subscription is listed too.
    assert_eq!(all.len(), 3, "{body}");
    let theirs: Vec<Value> = all
        .into_iter()
        .filter(|s| s["subscriber"] == subscriber)
        .collect();
    assert_eq!(theirs, announced);

    // A publication moves the cursor.
    let published = publish_public(&server, &mut client, MARKER).await;
    let answer = api_get(&mut client, PREFIX, Some(&collection_token)).await;
    let (_, cursor) = api_ok(&server, &answer, "application/json");
    assert_eq!(cursor, published);

    // The feature is advertised.
    let metadata = api_get(
        &mut client,
        "/.well-known/oauth-protected-resource/.well-known/mercure",
        None,
    )
    .await;
    assert_eq!(metadata.0, StatusCode::OK);
    let metadata: Value = serde_json::from_str(&metadata.2).expect("JSON metadata");
    assert_eq!(metadata["mercure_subscriptions"], true);
}

#[tokio::test]
async fn api_per_matcher_collection_and_single_subscription() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.http1().await;
    let mut watch_client = server.h2().await;
    let api_token = subscribe_token(&server, API, "urlpattern");
    let own = [WATCH];
    let mut watcher = open_watcher(&server, &mut watch_client, &[]).await;
    let mut other = server.h2().await;
    let leaving = open_payload_subscriber(&server, &mut other).await;
    let opened = documents_by_match(&mut watcher, &own, 2).await;
    let staying = open(&mut other, &[("match", ODD)], None).await;
    let staying_doc = document(&next_foreign(&mut watcher, &own).await);
    let (odd, books) = (&opened[ODD].1, &opened[BOOKS].1);

    let exact_path = format!("{PREFIX}/exact/{ODD_ENCODED}");
    let answer = api_get(&mut client, &exact_path, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(
        (&body["id"], &body["type"]),
        (&json!(exact_path), &json!("subscriptions"))
    );
    assert_eq!(
        listed(&body),
        sorted(vec![odd.clone(), staying_doc.clone()])
    );

    let books_path = format!("{PREFIX}/urlpattern/{BOOKS_ENCODED}");
    let answer = api_get(&mut client, &books_path, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(listed(&body), vec![books.clone()]);

    // A single subscription: the event's document, unchanged.
    let odd_id = odd["id"].as_str().expect("id").to_owned();
    let answer = api_get(&mut client, &odd_id, Some(&api_token)).await;
    let (single, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(single, *odd);
    // Another valid escaping of the same URL (lowercase hex) names the same subscription.
    let lowercase = odd_id.replace("%3A", "%3a").replace("%2F", "%2f");
    let answer = api_get(&mut client, &lowercase, Some(&api_token)).await;
    assert_eq!(api_ok(&server, &answer, "application/json").0, *odd);

    // Unknown subscriber, or a known one under another matcher type: 404.
    let subscriber = encoded_subscriber(odd["subscriber"].as_str().expect("subscriber"));
    let unknown = format!(
        "{exact_path}/{}",
        encoded_subscriber(&format!("urn:uuid:{}", uuid::Uuid::new_v4()))
    );
    let wrong_type = format!("{PREFIX}/urlpattern/{ODD_ENCODED}/{subscriber}");
    for path in [&unknown, &wrong_type] {
        let (status, _, body) = api_get(&mut client, path, Some(&api_token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // Once the subscriber left (the watcher saw it), its subscriptions are gone.
    drop(leaving);
    let closed = documents_by_match(&mut watcher, &own, 2).await;
    assert_eq!(closed[ODD].1["active"], false);
    let (status, _, body) = api_get(&mut client, &odd_id, Some(&api_token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let answer = api_get(&mut client, &exact_path, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(listed(&body), vec![staying_doc]);
    let answer = api_get(&mut client, &books_path, Some(&api_token)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(listed(&body), Vec::<Value>::new());
    drop(staying);
}

#[tokio::test]
async fn api_requires_subscribe_granted_on_the_requested_path() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut other = server.h2().await;
    let _subscriber = open(&mut other, &[("match", ODD)], None).await;
    let exact_path = format!("{PREFIX}/exact/{ODD_ENCODED}");
    let metadata = format!("resource_metadata=\"{}\"", metadata_url(&server));

    let (status, headers, body) = api_get(&mut client, PREFIX, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let challenge = headers["www-authenticate"].to_str().expect("ASCII");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "no token, no error code: {challenge}"
    );
    assert!(challenge.contains(&metadata), "{challenge}");

    // Subscribe rights elsewhere (and publish everywhere) are not enough.
    let elsewhere = token(
        &hub_url(&server),
        json!([
            detail(&["subscribe"], &[("https://example.com/*", "urlpattern")]),
            detail(&["publish"], &[("*", "exact")]),
        ]),
        TTL,
    );
    for path in [PREFIX, exact_path.as_str()] {
        let (status, headers, body) = api_get(&mut client, path, Some(&elsewhere)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let challenge = headers["www-authenticate"].to_str().expect("ASCII");
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
    }

    // A grant on one matcher's collection opens that URL only.
    let one_matcher = subscribe_token(&server, &exact_path, "exact");
    let answer = api_get(&mut client, &exact_path, Some(&one_matcher)).await;
    let (body, _) = api_ok(&server, &answer, "application/json");
    assert_eq!(listed(&body).len(), 1, "{body}");
    let (status, _, body) = api_get(&mut client, PREFIX, Some(&one_matcher)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let single = listed(&body_of(&answer))[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _, body) = api_get(&mut client, &single, Some(&one_matcher)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The reserved `*` and a pattern over the namespace open every endpoint.
    for grant in [
        all_access(&server, &["subscribe"]),
        subscribe_token(&server, API, "urlpattern"),
    ] {
        for path in [PREFIX, exact_path.as_str(), single.as_str()] {
            let answer = api_get(&mut client, path, Some(&grant)).await;
            api_ok(&server, &answer, "application/json");
        }
    }
}

#[tokio::test]
async fn api_exposes_its_link_header_to_allowed_cross_origin_clients() {
    let origin = "https://app.example.test";
    let server = mercure::start(|raw| raw.mercure.cors_origins = vec![origin.into()]).await;
    let mut client = server.h2().await;
    let auth = bearer(&subscribe_token(&server, API, "urlpattern"));
    let (status, headers, body) = answer(
        &mut client,
        get_with(PREFIX, &[("authorization", &auth), ("origin", origin)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["access-control-allow-origin"], origin);
    let exposed = headers["access-control-expose-headers"]
        .to_str()
        .expect("ASCII")
        .to_ascii_lowercase();
    assert!(
        exposed.split(',').any(|h| h.trim() == "link"),
        "Link is exposed: {exposed}"
    );
    link_cursor(&server, &headers);
}

fn body_of((_, _, body): &Answer) -> Value {
    serde_json::from_str(body).expect("JSON body")
}

#[tokio::test]
async fn api_cursor_passed_back_as_last_event_id_loses_no_subscription_event() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let mut other = server.h2().await;
    let _before = open(&mut other, &[("match", ODD)], None).await;
    let api_token = subscribe_token(&server, API, "urlpattern");
    let answer = api_get(&mut client, PREFIX, Some(&api_token)).await;
    let (body, cursor) = api_ok(&server, &answer, "application/json");
    assert_ne!(cursor, "earliest", "the first subscription was announced");
    assert_eq!(listed(&body).len(), 1);

    // Opened between the API call and the watcher's subscription.
    let _after = open(&mut other, &[("match_urlpattern", BOOKS)], None).await;
    let mut watcher = open_watcher(&server, &mut client, &[("last_event_id", &cursor)]).await;
    assert_eq!(
        watcher.headers["mercure-last-event-id"],
        cursor.as_str(),
        "the history covered the cursor"
    );
    // The replay starts after the cursor: the first subscription (listed) is not repeated.
    let doc = document(&next_foreign(&mut watcher, &[WATCH]).await);
    assert_eq!(
        (&doc["match"], &doc["active"]),
        (&json!(BOOKS), &json!(true))
    );
}

#[tokio::test]
async fn api_cursor_and_etag_stay_well_formed_for_ids_with_quotes_spaces_and_non_ascii() {
    let server = mercure::start(|_| {}).await;
    let mut client = server.h2().await;
    let writer = all_access(&server, &["publish"]);
    let odd_id = r#"rev "1" \ café"#;
    let id = publish_ok(
        &mut client,
        Some(&writer),
        &[("topic", MARKER), ("data", "odd"), ("id", odd_id)],
    )
    .await;
    assert_eq!(id, odd_id);
    let api_token = subscribe_token(&server, API, "urlpattern");
    let answer = api_get(&mut client, PREFIX, Some(&api_token)).await;
    let (_, cursor) = api_ok(&server, &answer, "application/json");
    assert_eq!(cursor, odd_id, "the Link's quoted-string carries the id");
    let odd_etag = answer.1["etag"].clone();
    let other = publish_public(&server, &mut client, MARKER).await;
    let answer = api_get(&mut client, PREFIX, Some(&api_token)).await;
    assert_eq!(api_ok(&server, &answer, "application/json").1, other);
    assert_ne!(answer.1["etag"], odd_etag, "a new event, a new ETag");

    // Passed back, the cursor resumes right after the odd update.
    let mut subscriber = open(
        &mut client,
        &[("match", MARKER), ("last_event_id", &cursor)],
        None,
    )
    .await;
    assert_eq!(
        subscriber.headers["mercure-last-event-id"].as_bytes(),
        odd_id.as_bytes()
    );
    assert_next_is_marker(&mut subscriber, &[], &other).await;
}
