//! Server-sent events on the wire: encoding of events and comments ([`event`]) and the
//! response body that streams a subscription to one client ([`stream`]).
//!
//! Encoding follows the WHATWG HTML "Server-sent events" section: every event is encoded
//! once, when it is published, and the same [`bytes::Bytes`] is shared by every subscriber.

pub mod event;
pub mod stream;

pub use event::{EventFields, FieldError};
pub use stream::{EndReason, SseBody, StreamLimits};
