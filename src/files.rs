//! Files an operator points ssegate at (the configuration, secrets, keys, tokens,
//! certificates), read with a bound: a path that names a device or a runaway file
//! (`/dev/zero`, a log by mistake) is an error naming it, not a process that reads until
//! it runs out of memory.
//!
//! Imports nothing of the crate.

use std::{
    fs::File,
    io::{self, Read},
    path::Path,
};

/// The most any such file may hold: far above a configuration, a key or a certificate
/// bundle.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The whole file, at most [`MAX_FILE_BYTES`].
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_at_most(path.as_ref(), MAX_FILE_BYTES)
}

/// The whole file as UTF-8 text, at most [`MAX_FILE_BYTES`].
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the file is not UTF-8 text"))
}

fn read_at_most(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the file is larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_within_the_bound_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        std::fs::write(&path, "key = 1\n").unwrap();
        assert_eq!(read_to_string(&path).unwrap(), "key = 1\n");
    }

    #[test]
    fn an_endless_file_is_refused_at_the_bound() {
        let err = read_at_most(Path::new("/dev/zero"), 1 << 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("larger than 1024 bytes"), "{err}");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_to_string(&path).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
