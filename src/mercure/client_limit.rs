//! The per-client bound on concurrent subscription streams (draft "Subscription": hubs
//! SHOULD limit the connections one client holds, and MAY answer 429). A stream holds a
//! [`ClientSlot`] for its whole life; the count of its address drops when the stream does.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

/// Open streams per client address.
#[derive(Debug)]
pub struct ClientLimit {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open stream of a client; dropping it frees the place.
#[derive(Debug)]
pub struct ClientSlot {
    limit: Arc<ClientLimit>,
    client: IpAddr,
}

impl ClientLimit {
    /// At most `max` streams per address.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more stream of `client`, or `None` when it holds `max` already.
    pub fn acquire(self: &Arc<Self>, client: IpAddr) -> Option<ClientSlot> {
        let mut open = self.lock();
        let count = open.entry(client).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            limit: self.clone(),
            client,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            // Addresses come and go: keep only those with open streams.
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_places_back_when_streams_end() {
        let limit = Arc::new(ClientLimit::new(2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limit.acquire(a).unwrap();
        let _second = limit.acquire(a).unwrap();
        assert!(limit.acquire(a).is_none());
        let _other = limit.acquire(b).unwrap();
        drop(first);
        let _again = limit.acquire(a).unwrap();
        assert!(limit.acquire(a).is_none());
        drop(_other);
        assert!(
            !limit.lock().contains_key(&b),
            "idle addresses are forgotten"
        );
    }
}
