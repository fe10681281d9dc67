//! HPACK, header compression for HTTP/2 (RFC 7541): a [`Decoder`] for the header blocks a
//! peer sends and an [`Encoder`] for ours, each with its connection's dynamic table.
//!
//! Blocks only: splitting them into HEADERS and CONTINUATION frames, and which
//! SETTINGS values apply when, belong to the frame codec and the connection.

mod decoder;
mod encoder;
mod huffman;
mod table;

pub use decoder::{DecodeError, Decoder};
pub use encoder::Encoder;

/// The dynamic table size both sides start with (SETTINGS_HEADER_TABLE_SIZE's initial
/// value, RFC 9113 section 6.5.2), and the most our encoder uses.
pub const DEFAULT_TABLE_SIZE: u32 = 4096;

#[cfg(test)]
mod tests;
