//! The layout of a server's data dir: `node-id` (the server's UUID, made on
//! first start), `store/` (the store's database) and `agent/` (registrations
//! made through the API). Nothing here writes into a dir it cannot fully read.
//!
//! What is in a data dir is private to the agent's user: the store holds the
//! Connect CA's private key (replicated, as Consul's built-in provider keeps
//! it) and every KV value. Dirs are made 0700 and files 0600, as Consul makes
//! its data dir 0700. The agent's umask ([`restrict_umask`]) covers the files
//! RocksDB creates; the files written here carry their mode themselves.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;

/// The mode of the data dir and of every dir the agent makes in it.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file the agent makes in it.
pub const FILE_MODE: u32 = 0o600;
/// The permission bits of the group and of others: never set in a data dir.
const OTHERS: u32 = 0o077;
const NODE_ID: &str = "node-id";
/// What the agent keeps in a data dir, tightened at start (an older
/// version made them with the process's umask, 0644 files under 0755 dirs).
const OURS: [&str; 4] = [NODE_ID, "node-id.tmp", "store", "agent"];
/// A file system's own dir at its root: a data dir on a dedicated disk
/// mounted at it holds one, and it does not make the dir someone else's.
const MOUNT_ROOT: &str = "lost+found";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data dir {dir}: {action}: {source}")]
    Io { dir: PathBuf, action: &'static str, source: io::Error },
    #[error("data dir {dir} exists and is not a directory")]
    NotADirectory { dir: PathBuf },
    #[error("data dir {dir}: file node-id holds {found:?}, which is not a UUID; refusing to use this dir")]
    BadNodeId { dir: PathBuf, found: String },
    #[error(
        "data dir {dir} has mode {mode:04o} (open to other users) and holds files that are not Tessera's \
         (no node-id): refusing to tighten a dir that may not be ours; give -data-dir a dir of its own, \
         or `chmod 700` this one"
    )]
    OpenAndNotOurs { dir: PathBuf, mode: u32 },
}

pub struct DataDir {
    pub node_id: String,
    pub store_path: PathBuf,
}

/// Makes the agent's umask clear the group's and others' bits (keeping any
/// other bit the operator's umask clears), so every file and dir created
/// from here on, RocksDB's included, is the owner's only. RocksDB creates
/// its files 0644 less the umask and offers no other way to change that
/// through its C API. Called once by the agent at start; the CLI's other
/// commands keep the operator's umask, and the `-pid-file` is written
/// before it (0666 less the operator's umask, as Consul writes it). Script
/// checks inherit it, as any child of a service run with systemd's
/// `UMask=0077` does.
pub fn restrict_umask() {
    use rustix::fs::Mode;
    let previous = rustix::process::umask(Mode::from_raw_mode(OTHERS));
    let wanted = previous.as_raw_mode() | OTHERS;
    if wanted != OTHERS {
        rustix::process::umask(Mode::from_raw_mode(wanted));
    }
}

/// Creates `dir` (and any missing parent) with [`DIR_MODE`]; an existing
/// dir is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

pub fn prepare(dir: &Path) -> Result<DataDir, DataDirError> {
    let io = |action: &'static str| move |source| DataDirError::Io { dir: dir.to_path_buf(), action, source };
    if dir.exists() && !dir.is_dir() {
        return Err(DataDirError::NotADirectory { dir: dir.to_path_buf() });
    }
    match dir.exists() {
        true => tighten(dir)?,
        false => create_private_dir(dir).map_err(io("cannot create it"))?,
    }
    let id_path = dir.join(NODE_ID);
    let node_id = match fs::read_to_string(&id_path) {
        Ok(text) => {
            let found = text.trim().to_string();
            if uuid::Uuid::parse_str(&found).is_err() {
                return Err(DataDirError::BadNodeId { dir: dir.to_path_buf(), found });
            }
            found
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let fresh = uuid::Uuid::new_v4().to_string();
            write_atomically(&id_path, fresh.as_bytes()).map_err(io("cannot write node-id"))?;
            fresh
        }
        Err(e) => return Err(io("cannot read node-id")(e)),
    };
    Ok(DataDir { node_id, store_path: dir.join("store") })
}

/// A data dir that exists, made the owner's only. A careful operator
/// pre-creates it (a package's `install -d` gives 0755) and expects the
/// agent to keep the CA key out of reach, so a dir of ours (it holds a
/// node-id, or nothing yet) that others could read is tightened to 0700 and
/// that is logged; refusing would only make every such install fail once.
/// A dir open to others that holds someone else's files (`-data-dir /var/lib`
/// by mistake) is refused: chmod-ing it could break whatever else lives there.
/// Then whatever of ours an older version left readable is tightened too.
fn tighten(dir: &Path) -> Result<(), DataDirError> {
    let io = |action: &'static str| move |source| DataDirError::Io { dir: dir.to_path_buf(), action, source };
    let mode = fs::metadata(dir).map_err(io("cannot read its mode"))?.permissions().mode() & 0o7777;
    if mode & OTHERS != 0 {
        if !is_ours(dir).map_err(io("cannot list it"))? {
            return Err(DataDirError::OpenAndNotOurs { dir: dir.to_path_buf(), mode });
        }
        set_mode(dir, DIR_MODE).map_err(io("cannot make it the owner's only (mode 0700)"))?;
        tracing::warn!(dir = %dir.display(), "data dir had mode {mode:04o}, open to other users; tightened to 0700");
    }
    let mut tightened = 0;
    for name in OURS {
        tightened += tighten_tree(&dir.join(name)).map_err(io("cannot make its files the owner's only"))?;
    }
    if tightened > 0 {
        tracing::warn!(dir = %dir.display(), tightened, "data dir held files or dirs open to other users; tightened");
    }
    Ok(())
}

/// Whether `dir` holds a node-id, or nothing but a file system's own dir.
fn is_ours(dir: &Path) -> io::Result<bool> {
    if dir.join(NODE_ID).exists() {
        return Ok(true);
    }
    for entry in fs::read_dir(dir)? {
        if entry?.file_name() != MOUNT_ROOT {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Clears the group's and others' bits of `path` and, for a dir, of
/// everything under it; returns how many it changed. Links are not
/// followed (what they point at is not in the data dir), nor is a missing
/// path an error.
fn tighten_tree(path: &Path) -> io::Result<usize> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(0);
    }
    let mode = meta.permissions().mode() & 0o7777;
    let mut changed = 0;
    if mode & OTHERS != 0 {
        set_mode(path, mode & !OTHERS)?;
        changed += 1;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            changed += tighten_tree(&entry?.path())?;
        }
    }
    Ok(changed)
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Replaces `path` with `bytes` whole: a crash leaves the old file or the
/// new one, never an empty or half-written one. The file is [`FILE_MODE`]
/// whatever the umask, and so is a leftover temporary file reused.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(&tmp)?;
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = prepare(dir.path()).unwrap().node_id;
        assert_eq!(prepare(dir.path()).unwrap().node_id, first);
    }

    #[test]
    fn a_file_in_place_of_the_dir_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        fs::write(&file, "x").unwrap();
        let err = prepare(&file).err().unwrap().to_string();
        assert!(err.contains("is not a directory"), "{err}");
    }

    #[test]
    fn a_garbled_node_id_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("node-id"), "not-a-uuid").unwrap();
        let err = prepare(dir.path()).err().unwrap().to_string();
        assert!(err.contains("not a UUID"), "{err}");
        assert_eq!(fs::read_to_string(dir.path().join("node-id")).unwrap(), "not-a-uuid");
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_dir_and_its_node_id_are_the_owners_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("data");
        prepare(&dir).unwrap();
        assert_eq!(mode_of(&dir), DIR_MODE);
        assert_eq!(mode_of(&dir.join("node-id")), FILE_MODE);
    }

    #[test]
    fn an_open_dir_of_ours_is_tightened_with_what_an_older_version_left() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        prepare(&dir).unwrap();
        fs::create_dir_all(dir.join("store")).unwrap();
        fs::write(dir.join("store").join("CURRENT"), "x").unwrap();
        for (path, mode) in [(&dir, 0o755), (&dir.join("store"), 0o755), (&dir.join("store").join("CURRENT"), 0o644)] {
            set_mode(path, mode).unwrap();
        }
        prepare(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&dir.join("store")), 0o700);
        assert_eq!(mode_of(&dir.join("store").join("CURRENT")), 0o600);
    }

    #[test]
    fn an_empty_open_dir_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        fs::create_dir_all(dir.join(MOUNT_ROOT)).unwrap();
        set_mode(&dir, 0o755).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
    }

    #[test]
    fn an_open_dir_holding_someone_elses_files_is_refused_and_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("shared");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("theirs"), "x").unwrap();
        set_mode(&dir, 0o755).unwrap();
        let err = prepare(&dir).err().unwrap().to_string();
        assert!(err.contains("mode 0755") && err.contains("chmod 700"), "{err}");
        assert_eq!(mode_of(&dir), 0o755);
        assert!(!dir.join("node-id").exists());
    }

    #[test]
    fn links_in_the_data_dir_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let (dir, elsewhere) = (root.path().join("data"), root.path().join("elsewhere"));
        prepare(&dir).unwrap();
        fs::write(&elsewhere, "x").unwrap();
        set_mode(&elsewhere, 0o644).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("agent")).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode_of(&elsewhere), 0o644);
    }
}
