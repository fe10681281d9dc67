//! The hub's event history: the most recent events of all topics, bounded by count and by
//! bytes, indexed by sequence number for `Last-Event-ID` resumption.

use std::{collections::HashMap, collections::VecDeque, sync::Arc};

use bytes::Bytes;

/// One retained event: its encoded frame is the very `Bytes` live subscribers got.
#[derive(Debug)]
pub struct StoredEvent {
    /// The hub's sequence number: contiguous over the whole history.
    pub seq: u64,
    /// The id the publisher chose, when it chose one (else the id is `seq` in decimal).
    pub custom_id: Option<Box<str>>,
    /// The topics the event was published to (canonical first).
    pub topics: Box<[Arc<str>]>,
    /// Only subscribers allowed to see private updates get it on replay too.
    pub private: bool,
    /// The encoded event.
    pub frame: Bytes,
}

/// Where a resumption starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeFrom {
    /// The id was found or is right before the oldest retained event: replaying from this
    /// sequence number misses nothing.
    Exact(u64),
    /// The id is unknown, or older than the history reaches: replay starts at the oldest
    /// retained event, and events may have been missed.
    Gap(u64),
}

/// A bounded, contiguous run of events.
#[derive(Debug)]
pub struct History {
    events: VecDeque<StoredEvent>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    /// Sequence numbers of the retained events carrying each publisher-chosen id, oldest
    /// first: an id may be reused (Mercure allows it), and it then names its earliest event.
    custom_ids: HashMap<Box<str>, VecDeque<u64>>,
}

impl History {
    /// An empty history keeping at most `max_events` events and `max_bytes` of frames.
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        Self {
            events: VecDeque::new(),
            bytes: 0,
            max_events,
            max_bytes,
            custom_ids: HashMap::new(),
        }
    }

    /// True when a retained event already carries the publisher-chosen id `id`.
    pub fn has_custom_id(&self, id: &str) -> bool {
        self.custom_ids.contains_key(id)
    }

    /// Appends the event with the next sequence number, evicting the oldest events past the
    /// limits.
    pub fn push(&mut self, event: StoredEvent) {
        debug_assert!(self
            .events
            .back()
            .is_none_or(|last| last.seq + 1 == event.seq));
        if self.max_events == 0 || event.frame.len() > self.max_bytes {
            // Not retainable at all; keep the run contiguous by dropping what is there.
            self.clear();
            return;
        }
        self.bytes += event.frame.len();
        if let Some(id) = &event.custom_id {
            self.custom_ids
                .entry(id.clone())
                .or_default()
                .push_back(event.seq);
        }
        self.events.push_back(event);
        while self.events.len() > self.max_events || self.bytes > self.max_bytes {
            self.pop_oldest();
        }
    }

    /// Decides where a subscriber that last saw `last_id` resumes, given that the next event
    /// to be published gets `next_seq`.
    pub fn resume_from(&self, last_id: &str, next_seq: u64) -> ResumeFrom {
        let oldest = self.events.front().map_or(next_seq, |e| e.seq);
        let seq = match self.custom_ids.get(last_id).and_then(|seqs| seqs.front()) {
            Some(&seq) => Some(seq),
            None if is_generated_id(last_id) => last_id.parse::<u64>().ok(),
            None => None,
        };
        match seq {
            Some(seq) if seq < next_seq && seq + 1 >= oldest => ResumeFrom::Exact(seq + 1),
            _ => ResumeFrom::Gap(oldest),
        }
    }

    /// The retained event with sequence number `seq`, if any.
    pub fn get(&self, seq: u64) -> Option<&StoredEvent> {
        let first = self.events.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.events.get(index)
    }

    /// The sequence number of the oldest retained event.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.events.front().map(|e| e.seq)
    }

    /// Number of retained events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Bytes of retained frames.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn pop_oldest(&mut self) {
        if let Some(old) = self.events.pop_front() {
            self.bytes -= old.frame.len();
            if let Some(id) = old.custom_id {
                if let Some(seqs) = self.custom_ids.get_mut(&id) {
                    seqs.pop_front();
                    if seqs.is_empty() {
                        self.custom_ids.remove(&id);
                    }
                }
            }
        }
    }

    fn clear(&mut self) {
        self.events.clear();
        self.custom_ids.clear();
        self.bytes = 0;
    }
}

/// Ids the hub generates are sequence numbers in decimal; publishers may not choose ids of
/// that shape, so an id always names one event.
pub fn is_generated_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, custom: Option<&str>, len: usize) -> StoredEvent {
        StoredEvent {
            seq,
            custom_id: custom.map(Into::into),
            topics: Box::new([Arc::from("t")]),
            private: false,
            frame: Bytes::from(vec![b'x'; len]),
        }
    }

    #[test]
    fn evicts_by_count_and_bytes() {
        let mut history = History::new(3, 100);
        for seq in 10..15 {
            history.push(event(seq, None, 10));
        }
        assert_eq!(history.len(), 3);
        assert_eq!(history.oldest_seq(), Some(12));
        history.push(event(15, None, 95));
        assert_eq!(history.len(), 1, "bytes limit evicts too");
        assert_eq!(history.bytes(), 95);
    }

    #[test]
    fn resumes_exactly_after_a_retained_id() {
        let mut history = History::new(10, 1000);
        for seq in 10..15 {
            history.push(event(seq, None, 1));
        }
        assert_eq!(history.resume_from("12", 15), ResumeFrom::Exact(13));
        assert_eq!(
            history.resume_from("9", 15),
            ResumeFrom::Exact(10),
            "right before oldest"
        );
        assert_eq!(
            history.resume_from("14", 15),
            ResumeFrom::Exact(15),
            "up to date"
        );
    }

    #[test]
    fn unknown_old_or_future_ids_are_gaps() {
        let mut history = History::new(10, 1000);
        for seq in 10..15 {
            history.push(event(seq, None, 1));
        }
        assert_eq!(history.resume_from("3", 15), ResumeFrom::Gap(10));
        assert_eq!(history.resume_from("99", 15), ResumeFrom::Gap(10));
        assert_eq!(history.resume_from("nope", 15), ResumeFrom::Gap(10));
    }

    #[test]
    fn custom_ids_resolve_until_evicted() {
        let mut history = History::new(2, 1000);
        history.push(event(1, Some("a"), 1));
        history.push(event(2, Some("b"), 1));
        assert_eq!(history.resume_from("a", 3), ResumeFrom::Exact(2));
        history.push(event(3, None, 1));
        assert!(!history.has_custom_id("a"));
        assert_eq!(history.resume_from("a", 4), ResumeFrom::Gap(2));
    }

    #[test]
    fn empty_history_resumes_only_from_the_latest_id() {
        let history = History::new(0, 0);
        assert_eq!(history.resume_from("4", 5), ResumeFrom::Exact(5));
        assert_eq!(history.resume_from("3", 5), ResumeFrom::Gap(5));
    }
}
