//! A small filesystem a test can fill: a tmpfs mounted at a directory
//! (root), and a filler file that leaves a given number of bytes free.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// A tmpfs mounted at a path, unmounted when dropped: declare it after the
/// agents on it, so they are killed first.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as mount's `size=`, e.g. `256m`) at `at`,
    /// which is created if missing.
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("the mount point");
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(at).output();
        assert!(out.as_ref().is_ok_and(|o| o.status.success()), "mount a tmpfs (needs root): {out:?}");
        Tmpfs(at.to_path_buf())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem at `dir` until `leave` bytes are free (one
/// fallocated file, returned: removing it gives the space back).
pub fn fill_until(dir: &Path, leave: u64) -> PathBuf {
    let free = free_bytes(dir);
    let filler = dir.join("filler");
    let size = free.saturating_sub(leave).to_string();
    let ok = Command::new("fallocate").args(["-l", &size]).arg(&filler).status().expect("run fallocate").success();
    assert!(ok, "fallocate {size} bytes in {}", dir.display());
    filler
}

/// Bytes free for unprivileged use on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(dir).output().expect("run df");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("df of {}: {text}", dir.display()))
}
