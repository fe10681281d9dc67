//! Header block encoding (RFC 7541 sections 5 and 6), with a policy for the responses of an
//! SSE server: what repeats on every response is indexed once and then costs a byte.

use super::{
    huffman,
    table::{entry_size, DynamicTable, Found},
    DEFAULT_TABLE_SIZE,
};

/// Values longer than this are not indexed: one would evict many of the short fields that
/// repeat on every response.
const MAX_INDEXED_VALUE: usize = 256;

/// Fields whose values change on every response: indexing them would only evict useful
/// entries.
const NOT_INDEXED: [&[u8]; 5] = [
    b"date",
    b"content-length",
    b"etag",
    b"last-modified",
    b"location",
];

/// Fields that carry secrets: never indexed, and marked so that intermediaries do not
/// index them either (section 7.1.3), which would expose them to compression-ratio attacks.
const NEVER_INDEXED: [&[u8]; 4] = [
    b"authorization",
    b"cookie",
    b"set-cookie",
    b"proxy-authorization",
];

/// The encoding side of one connection: a mirror of the peer decoder's dynamic table.
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// Size updates owed at the start of the next block, since the peer changed its
    /// SETTINGS_HEADER_TABLE_SIZE.
    pending_update: Option<PendingUpdate>,
}

/// The table sizes to signal (section 4.2): the smallest since the last block, so that the
/// peer evicts what we evicted, then the final one.
#[derive(Debug, Clone, Copy)]
struct PendingUpdate {
    smallest: usize,
    last: usize,
}

/// How a literal is represented (section 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexing {
    Incremental,
    Without,
    Never,
}

impl Encoder {
    /// An encoder for a peer whose table is [`DEFAULT_TABLE_SIZE`] until told otherwise.
    pub fn new() -> Self {
        Self {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE as usize),
            pending_update: None,
        }
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE: the next block starts with a dynamic table
    /// size update (the smallest size seen since the last block first, then the new one, as
    /// RFC 7541 section 4.2 requires when it shrank and grew between blocks). Our own table
    /// uses min(size, DEFAULT_TABLE_SIZE): we never need a bigger one.
    pub fn set_max_table_size(&mut self, size: u32) {
        let ours = size.min(DEFAULT_TABLE_SIZE) as usize;
        self.pending_update = Some(match self.pending_update {
            Some(pending) => PendingUpdate {
                smallest: pending.smallest.min(ours),
                last: ours,
            },
            None => PendingUpdate {
                smallest: ours,
                last: ours,
            },
        });
    }

    /// Appends the header block of `fields` (name, value; names already lowercase) to
    /// `out`.
    pub fn encode<'a>(
        &mut self,
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        out: &mut Vec<u8>,
    ) {
        if let Some(update) = self.pending_update.take() {
            if update.smallest < update.last {
                encode_integer(update.smallest, 5, 0x20, out);
                self.table.set_max_size(update.smallest);
            }
            encode_integer(update.last, 5, 0x20, out);
            self.table.set_max_size(update.last);
        }
        for (name, value) in fields {
            self.encode_field(name, value, out);
        }
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
        let indexing = self.indexing(name, value);
        let found = self.table.find(name, value);
        let name_index = match found {
            Some(Found::Field(index)) if indexing != Indexing::Never => {
                encode_integer(index, 7, 0x80, out);
                return;
            }
            Some(Found::Field(index) | Found::Name(index)) => Some(index),
            None => None,
        };
        let (prefix_bits, flags) = match indexing {
            Indexing::Incremental => (6, 0x40),
            Indexing::Without => (4, 0x00),
            Indexing::Never => (4, 0x10),
        };
        match name_index {
            Some(index) => encode_integer(index, prefix_bits, flags, out),
            None => {
                out.push(flags);
                encode_string(name, out);
            }
        }
        encode_string(value, out);
        if indexing == Indexing::Incremental {
            self.table.insert(name, value);
        }
    }

    fn indexing(&self, name: &[u8], value: &[u8]) -> Indexing {
        if NEVER_INDEXED.contains(&name) {
            Indexing::Never
        } else if NOT_INDEXED.contains(&name)
            || value.len() > MAX_INDEXED_VALUE
            // It would only empty the table (section 4.4).
            || entry_size(name, value) > self.table.max_size()
        {
            Indexing::Without
        } else {
            Indexing::Incremental
        }
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends `value` as an integer with an N-bit prefix (section 5.1), the first byte's bits
/// above the prefix set to `flags`.
pub(super) fn encode_integer(value: usize, prefix_bits: u8, flags: u8, out: &mut Vec<u8>) {
    let prefix_max = u8::MAX >> (8 - prefix_bits);
    if value < usize::from(prefix_max) {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | prefix_max);
    let mut rest = value - usize::from(prefix_max);
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Appends a string literal (section 5.2), Huffman-coded when that is shorter.
fn encode_string(string: &[u8], out: &mut Vec<u8>) {
    let huffman_len = huffman::encoded_len(string);
    if huffman_len < string.len() {
        encode_integer(huffman_len, 7, 0x80, out);
        huffman::encode(string, out);
    } else {
        encode_integer(string.len(), 7, 0x00, out);
        out.extend_from_slice(string);
    }
}
