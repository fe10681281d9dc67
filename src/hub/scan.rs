//! The subscribers the topic index cannot serve (pattern matchers), grouped by what they
//! ask for: one routing decision per group and update, then one authorization check per
//! member the update was routed to. 10,000 subscribers of 100 distinct patterns cost 100
//! pattern matches per update, not 10,000.

use std::{collections::HashMap, sync::Arc};

use super::selection::Subscriber;

/// Subscribers that share a routing decision.
#[derive(Debug)]
pub struct ScanGroup {
    key: Option<Arc<str>>,
    /// Never empty.
    pub members: Vec<Arc<Subscriber>>,
}

/// Every scanning subscriber, by scan group.
#[derive(Debug, Default)]
pub struct ScanGroups {
    groups: Vec<ScanGroup>,
    by_key: HashMap<Arc<str>, usize>,
}

impl ScanGroups {
    /// Adds a subscriber to its group (a group of its own without a key).
    pub fn add(&mut self, subscriber: Arc<Subscriber>) {
        let key = subscriber.selection.scan_group.clone();
        if let Some(&i) = key.as_ref().and_then(|k| self.by_key.get(k)) {
            self.groups[i].members.push(subscriber);
            return;
        }
        if let Some(key) = &key {
            self.by_key.insert(key.clone(), self.groups.len());
        }
        self.groups.push(ScanGroup {
            key,
            members: vec![subscriber],
        });
    }

    /// Removes a subscriber; its group goes when it was the last member.
    pub fn remove(&mut self, subscriber: &Arc<Subscriber>) {
        let index = match &subscriber.selection.scan_group {
            Some(key) => self.by_key.get(key).copied(),
            None => self.groups.iter().position(|g| {
                g.key.is_none() && g.members.iter().any(|m| Arc::ptr_eq(m, subscriber))
            }),
        };
        let Some(index) = index else {
            return;
        };
        let group = &mut self.groups[index];
        if let Some(i) = group
            .members
            .iter()
            .position(|m| Arc::ptr_eq(m, subscriber))
        {
            group.members.swap_remove(i);
        }
        if !group.members.is_empty() {
            return;
        }
        let removed = self.groups.swap_remove(index);
        if let Some(key) = removed.key {
            self.by_key.remove(&key);
        }
        // The group that took the removed one's place has a new index.
        if let Some(key) = self.groups.get(index).and_then(|g| g.key.clone()) {
            self.by_key.insert(key, index);
        }
    }

    /// Whether no subscriber scans.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups.
    pub fn iter(&self) -> impl Iterator<Item = &ScanGroup> {
        self.groups.iter()
    }

    /// Every member of every group.
    pub fn subscribers(&self) -> impl Iterator<Item = &Arc<Subscriber>> {
        self.groups.iter().flat_map(|g| g.members.iter())
    }
}
