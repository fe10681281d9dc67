//! The sampled publish→write latency: one event at a time is timed, from the moment the
//! log hands it to this node's router to the moment the first subscriber's response body
//! hands it to its connection.
//!
//! Why sampled: deliveries run at hundreds of thousands a second and cost ~3 µs each; a
//! histogram observation (and a clock read) per delivery would be a visible share of that.
//! Here the router arms the probe once per event when no event is being timed, and each
//! response body pays one relaxed atomic load per batch of frames it sends; only the first
//! body that sends the armed event pays a lock, a clock read and one observation.
//!
//! The probe keeps a reference to the armed frame, so its address cannot be reused by
//! another allocation while armed: a body recognises the event by the frame's address
//! (every subscriber shares the same encoded bytes).

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use prometheus_client::metrics::histogram::Histogram;

/// An armed event that nobody sent for this long is given up (it had no subscriber, or
/// they all left), and the next event is armed instead.
const GIVE_UP_AFTER: Duration = Duration::from_secs(1);

/// One timed event at a time; see the module docs.
#[derive(Debug)]
pub struct LatencyProbe {
    /// The armed frame's address, or 0: the only thing a body reads per batch.
    armed: AtomicUsize,
    slot: Mutex<Option<(Bytes, Instant)>>,
    histogram: Histogram,
}

impl LatencyProbe {
    /// A probe observing into `histogram`.
    pub fn new(histogram: Histogram) -> Self {
        Self {
            armed: AtomicUsize::new(0),
            slot: Mutex::new(None),
            histogram,
        }
    }

    /// Called once per event, before it is queued to any subscriber: times it unless
    /// another event is being timed. Never blocks the caller.
    pub fn arm(&self, frame: &Bytes) {
        if frame.is_empty() {
            return;
        }
        let Ok(mut slot) = self.slot.try_lock() else {
            return;
        };
        let now = Instant::now();
        if slot
            .as_ref()
            .is_some_and(|(_, at)| now.duration_since(*at) < GIVE_UP_AFTER)
        {
            return;
        }
        *slot = Some((frame.clone(), now));
        self.armed.store(frame.as_ptr() as usize, Ordering::Release);
    }

    /// Called by a response body with the frames it is about to send.
    #[inline]
    pub fn check(&self, frames: &[Bytes]) {
        let armed = self.armed.load(Ordering::Relaxed);
        if armed == 0 || !frames.iter().any(|f| f.as_ptr() as usize == armed) {
            return;
        }
        self.observe(armed);
    }

    #[cold]
    fn observe(&self, armed: usize) {
        let Ok(mut slot) = self.slot.lock() else {
            return;
        };
        // Another body may have observed it between the load and the lock.
        let Some((frame, at)) = slot.as_ref() else {
            return;
        };
        if frame.as_ptr() as usize != armed {
            return;
        }
        self.histogram.observe(at.elapsed().as_secs_f64());
        *slot = None;
        self.armed.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_body_sending_the_armed_event_observes_it_once() {
        let histogram = Histogram::new([0.001, 1.0]);
        let probe = LatencyProbe::new(histogram.clone());
        let event = Bytes::from("data: x\n\n");
        let other = Bytes::from("data: y\n\n");
        probe.arm(&event);
        probe.check(std::slice::from_ref(&other));
        assert_eq!(histogram.count(), 0);
        probe.check(&[other.clone(), event.clone()]);
        assert_eq!(histogram.count(), 1);
        probe.check(std::slice::from_ref(&event));
        assert_eq!(histogram.count(), 1, "only the first subscriber is timed");
    }

    #[test]
    fn an_armed_event_is_not_replaced_until_it_is_sent() {
        let histogram = Histogram::new([1.0]);
        let probe = LatencyProbe::new(histogram.clone());
        let first = Bytes::from("data: 1\n\n");
        let second = Bytes::from("data: 2\n\n");
        probe.arm(&first);
        probe.arm(&second);
        probe.check(std::slice::from_ref(&second));
        assert_eq!(histogram.count(), 0);
        probe.check(std::slice::from_ref(&first));
        assert_eq!(histogram.count(), 1);
        probe.arm(&second);
        probe.check(std::slice::from_ref(&second));
        assert_eq!(histogram.count(), 2);
    }
}
