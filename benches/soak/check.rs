//! What a resuming client must see: every event of each of its topics exactly once and in
//! order, from its first event to the end, however many times it reconnected.
//!
//! Hub events carry `RUN TOPIC SEQ` (then padding) as data, `SEQ` counting from 0 per topic
//! in publish order; the hub's ids grow over all topics. Gateway events come from the
//! sse-starlette upstream, whose stream resumes after `Last-Event-ID` with ids `k` and data
//! `event k`: one sequence per stream. A gap in a sequence is a loss, a repeat a duplicate.

use std::collections::HashMap;

/// Where one logical subscriber stands, across all its connections.
#[derive(Debug, Default)]
pub struct StreamCheck {
    /// The next sequence number expected, per topic (gateway streams: one topic, 0).
    next: HashMap<u64, u64>,
    /// The id of the last event received: sent as `Last-Event-ID` on reconnect.
    pub last_id: Option<String>,
    last_numeric_id: Option<u64>,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Events whose id did not grow (hub ids must, over all topics).
    pub out_of_order_ids: u64,
    /// Events that were not this run's (foreign data, a malformed id).
    pub malformed: u64,
    /// The first problems, for the report.
    pub problems: Vec<String>,
}

/// Problems quoted per subscriber.
const MAX_PROBLEMS: usize = 3;

impl StreamCheck {
    /// Sets the first sequence number expected on each topic, and the id to resume after
    /// on the first subscription (none if empty).
    pub fn expect_from(&mut self, starts: impl IntoIterator<Item = (u64, u64)>, after_id: &str) {
        self.next.extend(starts);
        if !after_id.is_empty() {
            self.last_id = Some(after_id.to_owned());
            self.last_numeric_id = after_id.parse().ok();
        }
    }

    /// A hub event: `id` is the hub's, `data` the publisher's payload.
    pub fn hub_event(&mut self, run: u64, id: &str, data: &str) {
        let Some((topic, seq)) = parse_payload(run, data) else {
            self.malformed += 1;
            self.problem(format!("foreign event id {id:?} data {:?}", clip(data)));
            return;
        };
        let Ok(numeric) = id.parse::<u64>() else {
            self.malformed += 1;
            self.problem(format!("hub event without a numeric id: {id:?}"));
            return;
        };
        if self.last_numeric_id.is_some_and(|last| numeric <= last) {
            self.out_of_order_ids += 1;
            self.problem(format!("id {numeric} after {:?}", self.last_numeric_id));
        }
        self.last_numeric_id = Some(numeric);
        self.last_id = Some(id.to_owned());
        self.sequence(topic, seq);
    }

    /// A gateway event from the sse-starlette upstream: id `k`, data `event k`.
    pub fn upstream_event(&mut self, id: &str, data: &str) {
        let k = id.parse::<u64>().ok();
        match k {
            Some(k) if data == format!("event {k}") => {
                self.last_id = Some(id.to_owned());
                self.sequence(0, k);
            }
            _ => {
                self.malformed += 1;
                self.problem(format!("upstream event id {id:?} data {:?}", clip(data)));
            }
        }
    }

    /// Counts `seq` of `topic` as delivered, lost after a gap, or duplicated.
    fn sequence(&mut self, topic: u64, seq: u64) {
        self.delivered += 1;
        let next = self.next.entry(topic).or_insert(seq);
        if seq == *next {
            *next += 1;
        } else if seq > *next {
            let missing = seq - *next;
            let from = *next;
            *next = seq + 1;
            self.lost += missing;
            self.problem(format!(
                "topic {topic}: {missing} events missing ({from}..{seq})"
            ));
        } else {
            self.duplicates += 1;
            let expected = *next;
            self.problem(format!("topic {topic}: {seq} again (expected {expected})"));
        }
    }

    /// The next sequence number this subscriber expects on `topic`, if it got any.
    pub fn next_of(&self, topic: u64) -> Option<u64> {
        self.next.get(&topic).copied()
    }

    pub fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        }
    }
}

/// `RUN TOPIC SEQ [PADDING]` of this run, as `(TOPIC, SEQ)`.
pub fn parse_payload(run: u64, data: &str) -> Option<(u64, u64)> {
    let mut fields = data.split(' ');
    let event_run: u64 = fields.next()?.parse().ok()?;
    let topic = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    (event_run == run).then_some((topic, seq))
}

/// The payload of event `seq` of `topic`, padded with `pad` bytes.
pub fn payload(run: u64, topic: u64, seq: u64, pad: usize) -> String {
    let mut data = format!("{run} {topic} {seq}");
    if pad > 0 {
        data.push(' ');
        data.extend(std::iter::repeat_n('x', pad));
    }
    data
}

fn clip(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(60)
        .map_or(text.len(), |(index, _)| index);
    &text[..end]
}
