//! HTTP/2's wire format (RFC 9113 frames, RFC 7541 HPACK), as plain data: no I/O, no
//! connection state. A leaf: imports nothing of the crate.
//!
//! The connection engine reads and writes through it; what spans more than one frame
//! (stream states, flow-control windows, header blocks across CONTINUATION) is the engine's.

pub mod frame;
pub mod hpack;
