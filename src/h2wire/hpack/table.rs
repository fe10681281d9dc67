//! The indexing tables of RFC 7541 section 2.3: the static table (Appendix A) and a
//! dynamic table, which the decoder keeps as the peer's encoder fills it and the encoder
//! keeps as a mirror of the peer's decoder.

use std::collections::VecDeque;

/// What an entry costs beyond its name and value (section 4.1): an estimate of the
/// overhead of storing it, the same for both peers so that their tables evict in step.
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// The static table, Appendix A; index `i` of the RFC is `STATIC_TABLE[i - 1]`.
pub(crate) const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// The dynamic table (section 2.3.2): newest entry first, so that its position plus
/// `STATIC_TABLE.len() + 1` is its index in the address space of section 2.3.3.
#[derive(Debug)]
pub(crate) struct DynamicTable {
    entries: VecDeque<Entry>,
    /// The sum of the entries' sizes by section 4.1; never above `max_size`.
    size: usize,
    max_size: usize,
}

/// One entry, its name and value in one allocation: the table's memory is then about what
/// the RFC accounts for it (the 32 bytes of overhead cover the box and the deque slot).
#[derive(Debug)]
struct Entry {
    name_and_value: Box<[u8]>,
    name_len: usize,
}

/// Where a field was found in the tables, as an index of section 2.3.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Name and value both match.
    Field(usize),
    /// Only the name matches.
    Name(usize),
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// The size by section 4.1 (the "Table size" of Appendix C's examples).
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A new maximum size (a dynamic table size update, section 4.3): entries are
    /// evicted, oldest first, until the table fits.
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds an entry (section 4.4): older entries are evicted to make room, and an entry
    /// larger than the whole table leaves it empty.
    pub(crate) fn insert(&mut self, name: &[u8], value: &[u8]) {
        let entry_size = entry_size(name, value);
        if entry_size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - entry_size);
        let mut name_and_value = Vec::with_capacity(name.len() + value.len());
        name_and_value.extend_from_slice(name);
        name_and_value.extend_from_slice(value);
        self.entries.push_front(Entry {
            name_and_value: name_and_value.into_boxed_slice(),
            name_len: name.len(),
        });
        self.size += entry_size;
    }

    /// The field at `index` of the address space of section 2.3.3 (1 to 61 static, then
    /// dynamic), or `None` for 0 and past the end.
    pub(crate) fn field(&self, index: usize) -> Option<(&[u8], &[u8])> {
        if index == 0 {
            return None;
        }
        if let Some(&field) = STATIC_TABLE.get(index - 1) {
            return Some(field);
        }
        let entry = self.entries.get(index - 1 - STATIC_TABLE.len())?;
        Some(entry.name_and_value.split_at(entry.name_len))
    }

    /// The lowest index at which the field, or failing that its name, is found: the static
    /// table first (its indices are the smaller ones), then the newest dynamic entries.
    pub(crate) fn find(&self, name: &[u8], value: &[u8]) -> Option<Found> {
        let mut name_match = None;
        for (i, &(n, v)) in STATIC_TABLE.iter().enumerate() {
            if n == name {
                if v == value {
                    return Some(Found::Field(i + 1));
                }
                name_match = name_match.or(Some(i + 1));
            }
        }
        for (i, entry) in self.entries.iter().enumerate() {
            let (n, v) = entry.name_and_value.split_at(entry.name_len);
            if n == name {
                let index = STATIC_TABLE.len() + 1 + i;
                if v == value {
                    return Some(Found::Field(index));
                }
                name_match = name_match.or(Some(index));
            }
        }
        name_match.map(Found::Name)
    }

    fn evict_to(&mut self, max_size: usize) {
        while self.size > max_size {
            let Some(oldest) = self.entries.pop_back() else {
                break;
            };
            self.size -= oldest.name_and_value.len() + ENTRY_OVERHEAD;
        }
    }
}

/// An entry's size by section 4.1.
pub(crate) fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_table_has_appendix_a_at_its_ends_and_landmarks() {
        let table = DynamicTable::new(4096);
        assert_eq!(table.field(1), Some((&b":authority"[..], &b""[..])));
        assert_eq!(table.field(2), Some((&b":method"[..], &b"GET"[..])));
        assert_eq!(table.field(8), Some((&b":status"[..], &b"200"[..])));
        assert_eq!(
            table.field(16),
            Some((&b"accept-encoding"[..], &b"gzip, deflate"[..]))
        );
        assert_eq!(table.field(24), Some((&b"cache-control"[..], &b""[..])));
        assert_eq!(table.field(31), Some((&b"content-type"[..], &b""[..])));
        assert_eq!(table.field(55), Some((&b"set-cookie"[..], &b""[..])));
        assert_eq!(table.field(61), Some((&b"www-authenticate"[..], &b""[..])));
        assert_eq!(table.field(0), None);
        assert_eq!(table.field(62), None);
    }

    #[test]
    fn entries_are_indexed_newest_first_after_the_static_table() {
        let mut table = DynamicTable::new(4096);
        table.insert(b"a", b"1");
        table.insert(b"b", b"2");
        assert_eq!(table.field(62), Some((&b"b"[..], &b"2"[..])));
        assert_eq!(table.field(63), Some((&b"a"[..], &b"1"[..])));
        assert_eq!(table.field(64), None);
        assert_eq!(table.size(), 2 * 34);
    }

    #[test]
    fn inserting_evicts_the_oldest_entries_until_the_new_one_fits() {
        // Room for two entries of 40 bytes, not three.
        let mut table = DynamicTable::new(100);
        table.insert(b"name", b"1111");
        table.insert(b"name", b"2222");
        table.insert(b"name", b"3333");
        assert_eq!(table.len(), 2);
        assert_eq!(table.size(), 80);
        assert_eq!(table.field(63), Some((&b"name"[..], &b"2222"[..])));
    }

    #[test]
    fn an_entry_larger_than_the_table_empties_it() {
        let mut table = DynamicTable::new(64);
        table.insert(b"a", b"b");
        table.insert(b"name", &[b'x'; 40]);
        assert_eq!((table.len(), table.size()), (0, 0));
    }

    #[test]
    fn an_entry_exactly_the_table_size_fits_alone() {
        let mut table = DynamicTable::new(64);
        table.insert(b"a", b"b");
        table.insert(b"name", &[b'x'; 28]);
        assert_eq!((table.len(), table.size()), (1, 64));
    }

    #[test]
    fn shrinking_evicts_and_zero_empties() {
        let mut table = DynamicTable::new(4096);
        table.insert(b"a", b"1");
        table.insert(b"b", b"2");
        table.set_max_size(40);
        assert_eq!(table.field(62), Some((&b"b"[..], &b"2"[..])));
        assert_eq!(table.len(), 1);
        table.set_max_size(0);
        assert_eq!((table.len(), table.size()), (0, 0));
    }

    #[test]
    fn find_prefers_a_full_match_then_the_lowest_index() {
        let mut table = DynamicTable::new(4096);
        assert_eq!(table.find(b":status", b"200"), Some(Found::Field(8)));
        assert_eq!(table.find(b":status", b"302"), Some(Found::Name(8)));
        assert_eq!(table.find(b"x-custom", b"1"), None);
        table.insert(b"x-custom", b"1");
        table.insert(b":status", b"302");
        assert_eq!(table.find(b":status", b"302"), Some(Found::Field(62)));
        assert_eq!(table.find(b"x-custom", b"2"), Some(Found::Name(63)));
        assert_eq!(table.find(b"x-custom", b"1"), Some(Found::Field(63)));
    }
}
