//! HTTP pieces every front door and the edge share, and nothing else: what a handler knows
//! of its connection ([`ConnInfo`], the client's address through trusted proxies), JSON and
//! text error responses, request body readers with limits and deadlines, the event-stream
//! response, and the response body type.
//!
//! A leaf: it imports nothing of the crate but the `sse` stream types, so the router, the
//! native API, Mercure, the gateway and the connection driver can all depend on it without
//! depending on each other.

mod acme_challenge;
mod body;
mod conn_info;
pub mod forwarded;
mod rate_limit;
mod read;
mod response;
mod trusted_proxies;

pub use acme_challenge::{Http01Challenges, ACME_CHALLENGE_PREFIX};
pub use body::{BoxError, ResponseBody};
pub use conn_info::{client_ip, ConnInfo};
pub use rate_limit::{PublishLimits, RateLimiter};
pub use read::read_text_body;
pub use response::{
    bad_param, error, event_stream_response, json, method_not_allowed, query_pairs, unavailable,
};
pub use trusted_proxies::{TrustedProxies, TrustedProxyError};
