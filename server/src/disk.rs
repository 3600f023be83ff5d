//! Writes stop before the data dir's filesystem fills: RocksDB on a full
//! disk does not fail cleanly (Debian's build aborts the process on the
//! first failed WAL write), so a write is refused with a clear error while
//! the free space is under a reserve, reads go on, and writes work again
//! as soon as space returns. Checked before a write is proposed (leader)
//! and before a follower appends entries.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

/// Free space kept for RocksDB's own flushes and compactions.
pub const DEFAULT_RESERVE: u64 = 64 << 20;

/// How long one look at the free space holds: writes come thousands a
/// second, and the reserve is far larger than what arrives meanwhile.
const LOOK_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct DiskGuard {
    dir: PathBuf,
    reserve: u64,
    /// The last look: when, and the free bytes seen.
    last: Arc<Mutex<Option<(Instant, u64)>>>,
    /// Signalled at each refusal (a leader then hands leadership over).
    refusals: Arc<tokio::sync::Notify>,
}

impl DiskGuard {
    pub fn new(dir: &Path, reserve: u64) -> DiskGuard {
        DiskGuard { dir: dir.to_path_buf(), reserve, last: Arc::default(), refusals: Arc::default() }
    }

    /// Returns at the next refusal (or at once if one came since the last call).
    pub async fn refused(&self) {
        self.refusals.notified().await;
    }

    /// Whether the free space is under the reserve now (a look, not a
    /// refusal: [`DiskGuard::refused`] does not wake for it).
    pub fn under_reserve(&self) -> bool {
        self.recent_free().is_ok_and(|free| free < self.reserve)
    }

    /// The free bytes, looked at again when the last look is old.
    fn recent_free(&self) -> std::io::Result<u64> {
        let mut last = self.last.lock().expect("disk guard lock");
        // Near the reserve every write looks again.
        if let Some((at, free)) = *last {
            if at.elapsed() < LOOK_EVERY && free > self.reserve.saturating_mul(2) {
                return Ok(free);
            }
        }
        let free = self.free()?;
        *last = Some((Instant::now(), free));
        Ok(free)
    }

    /// Free bytes for unprivileged writers on the data dir's filesystem.
    pub fn free(&self) -> std::io::Result<u64> {
        let stat = rustix::fs::statvfs(&self.dir).map_err(std::io::Error::from)?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Refuses `incoming` more bytes while they would take the free space
    /// under the reserve. A filesystem that cannot be asked is not refused:
    /// the write then fails or succeeds on its own.
    pub fn check(&self, incoming: u64) -> Result<(), String> {
        let Ok(free) = self.recent_free() else { return Ok(()) };
        if free >= self.reserve.saturating_add(incoming) {
            return Ok(());
        }
        self.refusals.notify_one();
        Err(format!(
            "Insufficient storage: the data dir {} has {free} bytes free, under the {}-byte reserve; \
             writes are refused until space is freed (reads go on)",
            self.dir.display(),
            self.reserve
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_larger_than_the_disk_refuses_and_names_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DiskGuard::new(dir.path(), 0).check(1).is_ok());
        let refused = DiskGuard::new(dir.path(), u64::MAX / 2).check(1).unwrap_err();
        assert!(refused.starts_with("Insufficient storage: the data dir"), "{refused}");
        assert!(refused.contains(&dir.path().display().to_string()));
    }
}
