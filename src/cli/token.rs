//! `ssegate token`: mints a Mercure access token signed with an HMAC secret, for trying the
//! hub, scripts and load tests. Production tokens come from the application or an
//! authorization server; this is the self-issuing publisher of the draft, on the command line.

use std::{
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use clap::Args;
use serde_json::{json, Value};

use super::CliError;
use ssegate::auth::MERCURE_DETAIL_TYPE;

/// `ssegate token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// File holding the HMAC secret (the `hmac_secret_file` of the issuer or legacy key).
    #[arg(long, conflicts_with = "secret")]
    pub secret_file: Option<PathBuf>,
    /// The HMAC secret itself (prefer --secret-file or the environment: command lines are
    /// visible to other users).
    #[arg(long, env = "SSEGATE_TOKEN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// `iss`: the issuer, as configured in `[[mercure.issuers]]`.
    #[arg(long, default_value = "ssegate-cli")]
    pub iss: String,
    /// `aud`: the hub's resource identifier (its URL).
    #[arg(long, default_value = "https://localhost:8443/.well-known/mercure")]
    pub aud: String,
    /// `sub`: the subject (default: a random urn:uuid).
    #[arg(long)]
    pub sub: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// Grant `publish` on this exact topic (`*` for all); repeatable.
    #[arg(long)]
    pub publish: Vec<String>,
    /// Grant `publish` on topics matching this URL pattern; repeatable.
    #[arg(long)]
    pub publish_pattern: Vec<String>,
    /// Grant `subscribe` on this exact topic (`*` for all); repeatable.
    #[arg(long)]
    pub subscribe: Vec<String>,
    /// Grant `subscribe` on topics matching this URL pattern; repeatable.
    #[arg(long)]
    pub subscribe_pattern: Vec<String>,
    /// Mint a pre-1.0 token instead: a plain JWT with the `mercure` claim (patterns are
    /// then URI templates given with --publish / --subscribe).
    #[arg(long)]
    pub legacy: bool,
}

/// Prints the token.
pub fn token(args: &TokenArgs) -> Result<(), CliError> {
    let secret = match (&args.secret_file, &args.secret) {
        (Some(path), _) => {
            let bytes = ssegate::files::read(path).map_err(|source| CliError::Io {
                context: "cannot read the secret file",
                source,
            })?;
            bytes.strip_suffix(b"\n").unwrap_or(&bytes).to_vec()
        }
        (None, Some(secret)) => secret.as_bytes().to_vec(),
        (None, None) => {
            return Err(CliError::Usage(
                "a secret is needed: --secret-file, --secret or SSEGATE_TOKEN_SECRET".into(),
            ))
        }
    };
    if secret.len() < 32 {
        return Err(CliError::Usage(format!(
            "the secret is {} bytes long; the hub refuses HMAC secrets under 32 bytes",
            secret.len()
        )));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let claims = if args.legacy {
        let mut publish = args.publish.clone();
        publish.extend(args.publish_pattern.iter().cloned());
        let mut subscribe = args.subscribe.clone();
        subscribe.extend(args.subscribe_pattern.iter().cloned());
        json!({
            "mercure": { "publish": publish, "subscribe": subscribe },
            "exp": now + args.ttl,
        })
    } else {
        header.typ = Some("at+jwt".into());
        let mut details = Vec::new();
        for (action, exact, patterns) in [
            ("publish", &args.publish, &args.publish_pattern),
            ("subscribe", &args.subscribe, &args.subscribe_pattern),
        ] {
            let topics: Vec<Value> = exact
                .iter()
                .map(|m| json!({ "match": m }))
                .chain(
                    patterns
                        .iter()
                        .map(|m| json!({ "match": m, "match_type": "urlpattern" })),
                )
                .collect();
            if !topics.is_empty() {
                details.push(json!({
                    "type": MERCURE_DETAIL_TYPE,
                    "actions": [action],
                    "topics": topics,
                }));
            }
        }
        let random = || format!("urn:uuid:{}", uuid::Uuid::new_v4());
        json!({
            "iss": args.iss,
            "aud": args.aud,
            "sub": args.sub.clone().unwrap_or_else(random),
            "client_id": args.iss,
            "iat": now,
            "exp": now + args.ttl,
            "jti": random(),
            "authorization_details": details,
        })
    };
    let key = jsonwebtoken::EncodingKey::from_secret(&secret);
    let token = jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| CliError::Usage(format!("cannot sign the token: {e}")))?;
    println!("{token}");
    Ok(())
}
