//! Reloading certificates when their files change. It polls (size, time and inode of each
//! file, which also sees a symlink swapped to a new target as Kubernetes does with secrets)
//! instead of asking the kernel for events: a handful of `stat` calls every few seconds
//! costs nothing, needs no extra crate and works on every file system. A change is loaded
//! once the files stayed the same for one more interval, so a pair being written (the
//! certificate first, the key a moment later) is not read half-way.

use std::{path::Path, sync::Arc, time::Duration};

use super::store::CertStore;

/// Watches `store`'s files every `interval` and reloads it after a change, for as long as
/// the task runs.
pub async fn watch(store: Arc<CertStore>, interval: Duration) {
    let mut seen = signatures(&store);
    let mut pending = false;
    loop {
        tokio::time::sleep(interval).await;
        let now = signatures(&store);
        if now != seen {
            seen = now;
            pending = true;
            continue;
        }
        if pending {
            pending = false;
            let store = store.clone();
            // Reading and parsing files blocks: keep it off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || {
                log_reload(&store, "the certificate files changed")
            })
            .await;
        }
    }
}

/// Reloads `store` and logs what happened, saying `why`.
pub fn log_reload(store: &CertStore, why: &str) {
    let report = store.reload();
    for error in &report.errors {
        tracing::error!(error = %error, "{why}, but a certificate could not be loaded: the previous one stays");
    }
    let states = store.states();
    for cert in &report.changed {
        let state = states.iter().find(|s| &s.cert == cert);
        tracing::info!(
            cert = %cert.display(),
            names = ?state.map(|s| &s.names),
            expires_in_days = ?state.map(|s| days_left(s.not_after)),
            "{why}: serving the new certificate to new connections"
        );
    }
    if report.changed.is_empty() && report.errors.is_empty() {
        tracing::info!("{why}: the certificates are unchanged");
    }
}

/// Whole days until `time` (negative once it passed), for logs.
pub fn days_left(time: std::time::SystemTime) -> i64 {
    match time.duration_since(std::time::SystemTime::now()) {
        Ok(left) => (left.as_secs() / 86_400) as i64,
        Err(past) => -((past.duration().as_secs() / 86_400) as i64),
    }
}

type Signature = Option<(u64, std::time::SystemTime, u64)>;

fn signatures(store: &CertStore) -> Vec<Signature> {
    store.files().into_iter().map(signature).collect()
}

fn signature(path: &Path) -> Signature {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok()?, inode))
}
