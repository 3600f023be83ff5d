//! The layout of a server's data dir: `node-id` (the server's UUID, made on
//! first start) and `store/` (the store's database). Nothing here writes into a dir it
//! cannot fully read.

use std::fs;
use std::io;
use std::path::Path;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data dir {dir}: {action}: {source}")]
    Io { dir: PathBuf, action: &'static str, source: io::Error },
    #[error("data dir {dir} exists and is not a directory")]
    NotADirectory { dir: PathBuf },
    #[error("data dir {dir}: file node-id holds {found:?}, which is not a UUID; refusing to use this dir")]
    BadNodeId { dir: PathBuf, found: String },
}

pub struct DataDir {
    pub node_id: String,
    pub store_path: PathBuf,
}

pub fn prepare(dir: &Path) -> Result<DataDir, DataDirError> {
    let io = |action: &'static str| move |source| DataDirError::Io { dir: dir.to_path_buf(), action, source };
    if dir.exists() && !dir.is_dir() {
        return Err(DataDirError::NotADirectory { dir: dir.to_path_buf() });
    }
    fs::create_dir_all(dir).map_err(io("cannot create it"))?;
    let id_path = dir.join("node-id");
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

/// Replaces `path` with `bytes` whole: a crash leaves the old file or the
/// new one, never an empty or half-written one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes)?;
    fs::File::open(&tmp)?.sync_all()?;
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
}
