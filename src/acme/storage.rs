//! What ACME keeps on disk, in `[tls.acme] storage`: the account's credentials (one file per
//! directory, so a staging account is never used against production) and the certificate
//! with its key, written as the local certificates are (`certs::replace_file`): mode 0600
//! from creation, through a temporary file and a rename, so a crash never leaves half a key.

use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;

use super::error::AcmeError;
use crate::{
    certs::{create_private_dir, replace_file},
    config::AcmeConfig,
    tls::{load_pair, Loaded},
};

/// The certificate and key files for `config`'s domains.
pub(super) fn certificate_paths(config: &AcmeConfig) -> (PathBuf, PathBuf) {
    let stem = &config.domains[0];
    (
        config.storage.join(format!("{stem}.pem")),
        config.storage.join(format!("{stem}-key.pem")),
    )
}

/// The stored certificate, if there is one for every domain.
pub(super) fn load_certificate(
    config: &AcmeConfig,
) -> Result<Option<Loaded>, crate::tls::TlsError> {
    let (cert, key) = certificate_paths(config);
    if !cert.exists() || !key.exists() {
        return Ok(None);
    }
    let loaded = load_pair(&cert, &key)?;
    let covers = config.domains.iter().all(|d| loaded.names.contains(d));
    Ok(covers.then_some(loaded))
}

/// Stores a new certificate chain and its key, and loads them back (which checks them).
pub(super) fn store_certificate(
    config: &AcmeConfig,
    chain_pem: &str,
    key_pem: &str,
) -> Result<Loaded, AcmeError> {
    let (cert, key) = certificate_paths(config);
    write_private(&key, key_pem.as_bytes())?;
    write_private(&cert, chain_pem.as_bytes())?;
    load_pair(&cert, &key).map_err(AcmeError::Certificate)
}

fn account_path(config: &AcmeConfig) -> PathBuf {
    let host = url::Url::parse(&config.directory_url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}-{}", u.port_or_known_default().unwrap_or(443)))
        })
        .unwrap_or_else(|| "directory".into());
    let safe: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    config.storage.join(format!("account-{safe}.json"))
}

/// The account's credentials from an earlier run, if any.
pub(super) fn load_account(config: &AcmeConfig) -> Result<Option<AccountCredentials>, AcmeError> {
    let path = account_path(config);
    let text = match crate::files::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AcmeError::Storage { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| AcmeError::Storage {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
}

/// Keeps the account's credentials (its private key) for the next runs.
pub(super) fn store_account(
    config: &AcmeConfig,
    credentials: &AccountCredentials,
) -> Result<(), AcmeError> {
    let path = account_path(config);
    let json = serde_json::to_vec_pretty(credentials).map_err(|e| AcmeError::Storage {
        path: path.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    write_private(&path, &json)
}

/// Writes `contents` to `path` readable by the owner only, replacing it in one rename.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), AcmeError> {
    let failed = |source| AcmeError::Storage {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(failed)?;
    }
    replace_file(path, contents, 0o600).map_err(failed)
}
