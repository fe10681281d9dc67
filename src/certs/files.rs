//! The certificate directory on disk: creating it (0700), reading optional files, and
//! replacing files atomically with the right mode (0600 for keys, 0644 for certificates).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::CertError;

pub(super) fn create_dir(dir: &Path) -> Result<(), CertError> {
    create_private_dir(dir).map_err(|source| CertError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

/// Creates `dir` (and its parents) readable by the owner only: it holds private keys. An
/// existing directory keeps its mode.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

pub(super) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, CertError> {
    match crate::files::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CertError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replaces `path` with `contents` atomically: readers see the old file or the
/// new one, never a partial write.
pub(super) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), CertError> {
    replace_file(path, contents, mode).map_err(|source| CertError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Replaces `path` with `contents` through a temporary file and a rename, so readers see
/// the old file or the new one, never a partial write; the new file has `mode` from its
/// creation (0600 for a private key).
pub fn replace_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Same directory, so the rename cannot cross file systems; the pid keeps two
    // processes from sharing a temp file.
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    // `create_new` below is what guarantees the mode (an existing file keeps its
    // own), so clear a temp file left by a crashed run that had our pid.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Set at creation, so a private key is never world-readable, not even
        // between open and chmod.
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A CA key others can read can be used to impersonate any site to this user's
/// browsers; say so, but do not refuse: the user may have reasons.
pub(super) fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "CA private key is readable by other users; consider chmod 600"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
