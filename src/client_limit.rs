//! Concurrent connections per client address: a client over the limit has its new
//! connection closed as soon as its address is known (at accept, or after the PROXY
//! header), before any TLS work. Loopback addresses and trusted proxies are not counted:
//! a proxy carries many clients on its connections.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex, MutexGuard,
    },
};

/// The counts, shared by every listener.
#[derive(Debug)]
pub struct ConnectionsPerClient {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    refused: AtomicU64,
}

/// One counted connection; uncounts itself when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    limits: Arc<ConnectionsPerClient>,
    ip: IpAddr,
}

impl ConnectionsPerClient {
    /// At most `max` connections per address; 0: no limit.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        })
    }

    /// Counts a connection from `ip`: `Ok(None)` when it is not counted (no limit,
    /// loopback, a trusted proxy), `Err(())` when `ip` already has the most allowed.
    #[allow(clippy::result_unit_err)]
    pub fn enter(self: &Arc<Self>, ip: IpAddr, trusted: bool) -> Result<Option<ClientSlot>, ()> {
        if self.max == 0 || trusted || ip.is_loopback() {
            return Ok(None);
        }
        let mut open = self.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            let refused = self.refused.fetch_add(1, Relaxed) + 1;
            if refused.is_power_of_two() {
                tracing::warn!(%ip, refused, max = self.max, "too many connections from one address: closing new ones");
            }
            return Err(());
        }
        *count += 1;
        Ok(Some(ClientSlot {
            limits: self.clone(),
            ip,
        }))
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                // No entry outlives its connections: the map holds open addresses only.
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_limit_and_a_slot_back_when_a_connection_ends() {
        let limits = ConnectionsPerClient::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = limits.enter(ip, false).unwrap().unwrap();
        let _second = limits.enter(ip, false).unwrap().unwrap();
        assert!(limits.enter(ip, false).is_err());
        assert!(limits
            .enter("192.0.2.2".parse().unwrap(), false)
            .unwrap()
            .is_some());
        drop(first);
        assert!(limits.enter(ip, false).unwrap().is_some());
        assert_eq!(limits.refused(), 1);
    }

    #[test]
    fn loopback_and_trusted_proxies_are_not_counted() {
        let limits = ConnectionsPerClient::new(1);
        for _ in 0..3 {
            assert!(limits
                .enter("127.0.0.1".parse().unwrap(), false)
                .unwrap()
                .is_none());
            assert!(limits
                .enter("192.0.2.1".parse().unwrap(), true)
                .unwrap()
                .is_none());
        }
        assert!(limits.lock().is_empty());
    }
}
