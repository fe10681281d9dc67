//! Header block decoding (RFC 7541 sections 3, 5 and 6).

use thiserror::Error;

use super::{
    huffman,
    table::{entry_size, DynamicTable},
};

/// Scratch buffers above this capacity are given back after a block: one huge header must
/// not stay allocated for the rest of a long-lived connection.
const SCRATCH_KEPT: usize = 16 * 1024;

/// The decoding side of one connection: the dynamic table the peer's encoder fills.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// What we advertised as SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask.
    max_table_size: u32,
    /// The current field's name and value, decoded (Huffman) or copied (from the table,
    /// which inserting may change) here; kept between fields to save allocations.
    name: Vec<u8>,
    value: Vec<u8>,
}

/// Why a header block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The header list is larger than SETTINGS_MAX_HEADER_LIST_SIZE. The block was
    /// decoded to its end, so the connection can go on (RFC 9113 section 10.5.1).
    #[error("header list larger than the advertised maximum")]
    ListTooLarge,
    /// An index of 0, or past the end of the static and dynamic tables.
    #[error("header table index {0} out of range")]
    InvalidIndex(usize),
    /// An integer past `u32`, or encoded with more continuation bytes than one needs.
    #[error("integer too large")]
    IntegerOverflow,
    /// The block ends inside a representation.
    #[error("header block ends inside a field")]
    Truncated,
    /// A Huffman-coded string that is not valid (section 5.2).
    #[error("invalid Huffman-coded string")]
    InvalidHuffman,
    /// A dynamic table size update above the size we advertised.
    #[error("dynamic table size update to {0}, above the advertised maximum")]
    TableSizeUpdateTooLarge(u32),
    /// A dynamic table size update after a header field (section 4.2).
    #[error("dynamic table size update after a header field")]
    TableSizeUpdateNotFirst,
}

impl Decoder {
    /// `max_table_size`: the SETTINGS_HEADER_TABLE_SIZE we advertise (the most a peer's
    /// dynamic table size update may ask for). The dynamic table starts at that size, as in
    /// RFC 7541's examples. At or above [`DEFAULT_TABLE_SIZE`](super::DEFAULT_TABLE_SIZE),
    /// a peer that keeps to the default is always understood (we evict later than it does,
    /// never sooner). Below it, this assumes the peer read our SETTINGS before its first
    /// block: until then it may fill a table of the default size (RFC 9113 section 6.5.3).
    pub fn new(max_table_size: u32) -> Self {
        Self {
            table: DynamicTable::new(to_usize(max_table_size)),
            max_table_size,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Decodes one whole header block (HEADERS + CONTINUATION fragments already joined),
    /// calling `emit(name, value)` for each field in order. `max_list_size` is
    /// SETTINGS_MAX_HEADER_LIST_SIZE (sum of name + value + 32 per field): past it, `emit`
    /// is no longer called but the block is still decoded to the end, so the dynamic table
    /// stays in step with the peer's, and the result is `Err(ListTooLarge)` (the caller may
    /// answer 431 and keep the connection). Every other error is a COMPRESSION_ERROR for
    /// the connection. Names and values are bytes as sent; validating them (lowercase
    /// names, pseudo-headers, forbidden characters) is the caller's job.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list_size: usize,
        mut emit: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let mut input = block;
        let mut list_size: usize = 0;
        let mut fields_seen = false;
        // Whether the list so far, this field included, fits: once a field does not, no
        // field after it is emitted either, even a small one.
        let mut admit = |name: &[u8], value: &[u8]| {
            list_size = list_size.saturating_add(entry_size(name, value));
            list_size <= max_list_size
        };
        while let Some(&first) = input.first() {
            if first & 0x80 != 0 {
                // Indexed header field (section 6.1).
                let index = to_usize(decode_integer(&mut input, 7)?);
                let (name, value) = self
                    .table
                    .field(index)
                    .ok_or(DecodeError::InvalidIndex(index))?;
                if admit(name, value) {
                    emit(name, value);
                }
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update (section 6.3), only before the first field.
                if fields_seen {
                    return Err(DecodeError::TableSizeUpdateNotFirst);
                }
                let size = decode_integer(&mut input, 5)?;
                if size > self.max_table_size {
                    return Err(DecodeError::TableSizeUpdateTooLarge(size));
                }
                self.table.set_max_size(to_usize(size));
                continue;
            } else {
                // A literal (section 6.2): with incremental indexing (01), or without
                // indexing (0000) or never indexed (0001), which decode alike.
                let add_to_table = first & 0x40 != 0;
                let prefix_bits = if add_to_table { 6 } else { 4 };
                let name_index = to_usize(decode_integer(&mut input, prefix_bits)?);
                self.name.clear();
                self.value.clear();
                if name_index == 0 {
                    read_string(&mut input, &mut self.name)?;
                } else {
                    let (name, _) = self
                        .table
                        .field(name_index)
                        .ok_or(DecodeError::InvalidIndex(name_index))?;
                    self.name.extend_from_slice(name);
                }
                read_string(&mut input, &mut self.value)?;
                if admit(&self.name, &self.value) {
                    emit(&self.name, &self.value);
                }
                if add_to_table {
                    self.table.insert(&self.name, &self.value);
                }
            }
            fields_seen = true;
        }
        for scratch in [&mut self.name, &mut self.value] {
            if scratch.capacity() > SCRATCH_KEPT {
                *scratch = Vec::new();
            }
        }
        if list_size > max_list_size {
            return Err(DecodeError::ListTooLarge);
        }
        Ok(())
    }

    /// The dynamic table, for the tests of Appendix C's table sizes.
    #[cfg(test)]
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }
}

impl DecodeError {
    /// Whether the connection must end with COMPRESSION_ERROR: the decoder's table may no
    /// longer match the peer's. False only for [`DecodeError::ListTooLarge`].
    pub fn is_compression_error(&self) -> bool {
        !matches!(self, DecodeError::ListTooLarge)
    }
}

/// Reads an integer with an N-bit prefix (section 5.1, N from 1 to 8) from the start of
/// `input`, ignoring the first byte's bits above the prefix.
pub(super) fn decode_integer(input: &mut &[u8], prefix_bits: u8) -> Result<u32, DecodeError> {
    let (&first, mut rest) = input.split_first().ok_or(DecodeError::Truncated)?;
    let prefix_max = u8::MAX >> (8 - prefix_bits);
    let mut value = u64::from(first & prefix_max);
    if value < u64::from(prefix_max) {
        *input = rest;
        return Ok(value as u32);
    }
    // Five continuation bytes carry 35 bits, enough for any u32; a sixth can only be
    // padding (0x80 bytes), which would let a peer make us loop over a long run of them.
    let mut shift = 0;
    loop {
        let (&byte, tail) = rest.split_first().ok_or(DecodeError::Truncated)?;
        rest = tail;
        if shift > 28 {
            return Err(DecodeError::IntegerOverflow);
        }
        value += u64::from(byte & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(DecodeError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    *input = rest;
    Ok(value as u32)
}

/// Reads a string literal (section 5.2) from the start of `input` and appends its bytes,
/// Huffman-decoded if it says so, to `out`.
fn read_string(input: &mut &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let huffman_coded = input.first().is_some_and(|b| b & 0x80 != 0);
    let len = to_usize(decode_integer(input, 7)?);
    if len > input.len() {
        return Err(DecodeError::Truncated);
    }
    let (string, rest) = input.split_at(len);
    *input = rest;
    if huffman_coded {
        huffman::decode(string, out).map_err(|_| DecodeError::InvalidHuffman)
    } else {
        out.extend_from_slice(string);
        Ok(())
    }
}

/// A decoded integer as a length or index: lossless on the 32- and 64-bit targets this
/// runs on; saturating elsewhere, where the value is then past any table or block.
fn to_usize(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}
