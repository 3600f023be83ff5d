//! The files `tessera tls` writes: never over an existing file, and a
//! private key created with mode 0600, so it is never readable by others,
//! not even for the moment a chmod after creation would leave open.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A private key's mode.
pub const KEY_MODE: u32 = 0o600;
/// A certificate's mode: public material.
pub const CERT_MODE: u32 = 0o644;

/// Consul looks this far for a free certificate number.
const MAX_INDEX: u32 = 10_000;

/// Whether anything (a file, a directory, a dangling link) holds `path`.
pub fn exists(path: &str) -> bool {
    Path::new(path).symlink_metadata().is_ok()
}

/// The first `<prefix>-<n>.pem` / `<prefix>-<n>-key.pem` pair of which
/// neither file exists, `n` from 0 up, or None when all are taken.
pub fn free_pair(prefix: &str) -> Option<(String, String)> {
    (0..=MAX_INDEX)
        .map(|n| (format!("{prefix}-{n}.pem"), format!("{prefix}-{n}-key.pem")))
        .find(|(cert, key)| !exists(cert) && !exists(key))
}

/// Creates `path` with `mode` (before the umask) and writes `contents`;
/// fails if the file exists. A file left half-written is removed.
pub fn write_new(path: &str, contents: &str, mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    let written = file.write_all(contents.as_bytes()).and_then(|()| file.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keys_are_created_private_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem").to_string_lossy().to_string();
        write_new(&key, "secret", KEY_MODE).unwrap();
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        let again = write_new(&key, "other", KEY_MODE).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "secret");
    }

    #[test]
    fn the_first_free_number_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("dc1-server-consul").to_string_lossy().to_string();
        std::fs::write(format!("{prefix}-0.pem"), "").unwrap();
        // Only the key of 1 exists: 1 is not free either.
        std::fs::write(format!("{prefix}-1-key.pem"), "").unwrap();
        let (cert, key) = free_pair(&prefix).unwrap();
        assert_eq!((cert, key), (format!("{prefix}-2.pem"), format!("{prefix}-2-key.pem")));
    }
}
