//! The certificates the listener serves: which one answers which server name (SNI), with a
//! default for the rest, and their reload. A reload swaps the whole table at once; each
//! handshake takes the table current when it starts, so open connections keep what they
//! negotiated and new ones get the new certificates.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::SystemTime,
};

use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use super::load::{load_pair, Loaded, TlsError};
use crate::config::CertificateFiles;

/// The certificates, by server name.
pub struct CertStore {
    /// Each configured pair, in the order names are claimed.
    entries: Vec<CertificateFiles>,
    /// Which entry answers clients no name chose one for.
    default: usize,
    table: RwLock<Arc<Table>>,
    /// Certificates obtained at run time (ACME), by name: they win over the files.
    managed: RwLock<HashMap<String, Arc<Loaded>>>,
    /// tls-alpn-01 validation certificates, by name, served only to `acme-tls/1` clients.
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// One reload at a time (SIGHUP and the file watcher may ask together).
    reloading: Mutex<()>,
}

/// What is loaded now, and which entry each name goes to.
#[derive(Debug)]
struct Table {
    loaded: Vec<Loaded>,
    exact: HashMap<String, usize>,
    /// `*.example.com` is kept as `example.com`.
    wildcard: HashMap<String, usize>,
}

/// One certificate as served now.
#[derive(Debug, Clone)]
pub struct CertificateState {
    /// Its certificate file.
    pub cert: PathBuf,
    /// The names it answers.
    pub names: Vec<String>,
    /// When the served certificate expires.
    pub not_after: SystemTime,
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Certificate files whose new content is now served.
    pub changed: Vec<PathBuf>,
    /// Pairs that could not be loaded; the previous certificate stays for each.
    pub errors: Vec<TlsError>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("entries", &self.entries)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads `default` (answering clients no name chose a certificate for) and
    /// `certificates` (chosen by server name, the first to claim a name keeping it).
    pub fn load(
        default: CertificateFiles,
        certificates: &[CertificateFiles],
    ) -> Result<Self, TlsError> {
        let mut entries = certificates.to_vec();
        let default = match entries
            .iter()
            .position(|e| e.cert == default.cert && e.key == default.key)
        {
            Some(index) => index,
            None => {
                entries.push(default);
                entries.len() - 1
            }
        };
        let loaded = entries
            .iter()
            .map(|e| load_pair(&e.cert, &e.key))
            .collect::<Result<Vec<_>, _>>()?;
        let table = Table::new(&entries, loaded);
        Ok(Self {
            entries,
            default,
            table: RwLock::new(Arc::new(table)),
            managed: RwLock::default(),
            challenges: RwLock::default(),
            reloading: Mutex::new(()),
        })
    }

    /// Loads every pair again. A pair that cannot be loaded (unreadable, malformed, a key
    /// that is not the certificate's) keeps its previous certificate and is reported; the
    /// others are swapped in together.
    pub fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let before = self.table();
        let mut report = ReloadReport::default();
        let loaded = self
            .entries
            .iter()
            .zip(&before.loaded)
            .map(|(entry, old)| match load_pair(&entry.cert, &entry.key) {
                Ok(new) => {
                    if new.key.cert != old.key.cert {
                        report.changed.push(entry.cert.clone());
                    }
                    new
                }
                Err(e) => {
                    report.errors.push(e);
                    old.clone()
                }
            })
            .collect();
        if !report.changed.is_empty() {
            let table = Table::new(&self.entries, loaded);
            *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        }
        report
    }

    /// Every configured certificate file and key file, for the watcher.
    pub fn files(&self) -> Vec<&Path> {
        self.entries
            .iter()
            .flat_map(|e| [e.cert.as_path(), e.key.as_path()])
            .collect()
    }

    /// The certificates served now, in configuration order.
    pub fn states(&self) -> Vec<CertificateState> {
        let table = self.table();
        self.entries
            .iter()
            .zip(&table.loaded)
            .map(|(entry, loaded)| CertificateState {
                cert: entry.cert.clone(),
                names: names_of(entry, loaded).to_vec(),
                not_after: loaded.not_after,
            })
            .collect()
    }

    /// Serves `certificate` to clients asking for any of `names`, ahead of the files (an
    /// ACME certificate, issued or renewed).
    pub fn set_managed(&self, names: &[String], certificate: Loaded) {
        let certificate = Arc::new(certificate);
        let mut managed = self.managed.write().unwrap_or_else(|e| e.into_inner());
        for name in names {
            managed.insert(name.to_ascii_lowercase(), certificate.clone());
        }
    }

    /// The managed certificate serving `name`, if any.
    pub fn managed(&self, name: &str) -> Option<Arc<Loaded>> {
        self.managed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// Answers a tls-alpn-01 validation of `name` with `certificate` (`None` withdraws it).
    pub fn set_challenge(&self, name: &str, certificate: Option<Arc<CertifiedKey>>) {
        let mut challenges = self.challenges.write().unwrap_or_else(|e| e.into_inner());
        match certificate {
            Some(certificate) => challenges.insert(name.to_ascii_lowercase(), certificate),
            None => challenges.remove(&name.to_ascii_lowercase()),
        };
    }

    /// The certificate for a client that asked for `server_name` (none: no SNI).
    pub fn choose(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        if let Some(name) = server_name {
            let managed = self.managed.read().unwrap_or_else(|e| e.into_inner());
            if !managed.is_empty() {
                if let Some(found) = managed.get(&name.trim_end_matches('.').to_ascii_lowercase()) {
                    return found.key.clone();
                }
            }
        }
        let table = self.table();
        let index = server_name
            .map(|name| name.trim_end_matches('.').to_ascii_lowercase())
            .and_then(|name| {
                table.exact.get(&name).copied().or_else(|| {
                    let (_, parent) = name.split_once('.')?;
                    table.wildcard.get(parent).copied()
                })
            })
            .unwrap_or(self.default);
        table.loaded[index].key.clone()
    }

    fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validating = client_hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == super::ALPN_ACME_TLS));
        if validating {
            // RFC 8737: the validation certificate for the name, or no handshake at all.
            let name = client_hello.server_name()?.to_ascii_lowercase();
            return self
                .challenges
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&name)
                .cloned();
        }
        Some(self.choose(client_hello.server_name()))
    }
}

/// The names `entry` answers: the configured ones, else the certificate's own.
fn names_of<'a>(entry: &'a CertificateFiles, loaded: &'a Loaded) -> &'a [String] {
    if entry.hosts.is_empty() {
        &loaded.names
    } else {
        &entry.hosts
    }
}

impl Table {
    fn new(entries: &[CertificateFiles], loaded: Vec<Loaded>) -> Self {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (index, (entry, loaded)) in entries.iter().zip(&loaded).enumerate() {
            for name in names_of(entry, loaded) {
                match name.strip_prefix("*.") {
                    Some(parent) => wildcard.entry(parent.to_owned()).or_insert(index),
                    None => exact.entry(name.clone()).or_insert(index),
                };
            }
        }
        Self {
            loaded,
            exact,
            wildcard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `names`, written to `dir` as `{stem}.pem` and
    /// `{stem}-key.pem`.
    fn pair(dir: &Path, stem: &str, names: &[&str]) -> CertificateFiles {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.self_signed(&key).unwrap();
        let files = CertificateFiles {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}-key.pem")),
            hosts: Vec::new(),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    fn served(store: &CertStore, name: Option<&str>) -> Vec<u8> {
        store.choose(name).cert[0].to_vec()
    }

    fn leaf(files: &CertificateFiles) -> Vec<u8> {
        crate::tls::load_certs(&files.cert).unwrap()[0].to_vec()
    }

    #[test]
    fn names_choose_exact_then_wildcard_then_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let default = pair(dir.path(), "default", &["localhost"]);
        let a = pair(dir.path(), "a", &["a.test"]);
        let wild = pair(dir.path(), "wild", &["*.wild.test"]);
        let mut exact_in_wild = pair(dir.path(), "exact", &["x.wild.test"]);
        exact_in_wild.hosts = vec!["exact.wild.test".into()];
        let store = CertStore::load(
            default.clone(),
            &[a.clone(), wild.clone(), exact_in_wild.clone()],
        )
        .unwrap();
        assert_eq!(served(&store, Some("A.Test.")), leaf(&a));
        assert_eq!(served(&store, Some("x.wild.test")), leaf(&wild));
        assert_eq!(
            served(&store, Some("exact.wild.test")),
            leaf(&exact_in_wild)
        );
        assert_eq!(served(&store, Some("deeper.x.wild.test")), leaf(&default));
        assert_eq!(served(&store, Some("wild.test")), leaf(&default));
        assert_eq!(served(&store, None), leaf(&default));
    }

    #[test]
    fn a_reload_swaps_changed_pairs_and_keeps_broken_ones() {
        let dir = tempfile::tempdir().unwrap();
        let a = pair(dir.path(), "a", &["a.test"]);
        let b = pair(dir.path(), "b", &["b.test"]);
        let store = CertStore::load(a.clone(), std::slice::from_ref(&b)).unwrap();
        let report = store.reload();
        assert!(report.changed.is_empty() && report.errors.is_empty());

        // a gets a new pair; b's certificate changes but its key does not match.
        let old_b = leaf(&b);
        pair(dir.path(), "a", &["a.test"]);
        let other = pair(dir.path(), "other", &["b.test"]);
        std::fs::copy(&other.cert, &b.cert).unwrap();
        let report = store.reload();
        assert_eq!(report.changed, std::slice::from_ref(&a.cert));
        assert_eq!(report.errors.len(), 1);
        let error = report.errors[0].to_string();
        assert!(
            error.contains("b.pem") && error.contains("b-key.pem"),
            "{error}"
        );
        assert_eq!(served(&store, Some("a.test")), leaf(&a));
        assert_eq!(served(&store, Some("b.test")), old_b);
    }

    #[test]
    fn a_broken_file_at_start_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = pair(dir.path(), "a", &["a.test"]);
        std::fs::write(&a.cert, "not a certificate").unwrap();
        let error = CertStore::load(a, &[]).unwrap_err().to_string();
        assert!(error.contains("a.pem"), "{error}");
    }
}
