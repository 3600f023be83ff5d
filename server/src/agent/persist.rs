//! Services and checks registered through the API survive restarts: each is
//! kept in its own small file under `<data-dir>/agent/{services,checks}/`
//! (named by the hex of its id), written atomically when it is registered
//! and removed when it is deregistered. One file per registration keeps a
//! registration O(1), however many the agent holds.

use std::path::Path;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_mesh::catalog::CheckDefinition;
use tessera_mesh::catalog::ServiceDefinition;

#[derive(Debug, Default)]
pub struct Registrations {
    pub services: Vec<ServiceDefinition>,
    pub checks: Vec<CheckDefinition>,
}

pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("agent")
}

fn file_for(dir: &Path, kind: &str, id: &str) -> PathBuf {
    let name: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    dir.join(kind).join(format!("{name}.json"))
}

fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let attempt = || -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            crate::data_dir::create_private_dir(parent)?;
        }
        crate::data_dir::write_atomically(path, &serde_json::to_vec(value).expect("definitions serialize"))
    };
    attempt().map_err(|e| format!("{}: {e}", path.display()))
}

fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{}: {e}", path.display())),
        _ => Ok(()),
    }
}

pub fn save_service(dir: &Path, definition: &ServiceDefinition) -> Result<(), String> {
    write(&file_for(dir, "services", &definition.effective_id()), definition)
}

pub fn remove_service(dir: &Path, id: &str) -> Result<(), String> {
    remove(&file_for(dir, "services", id))
}

pub fn save_check(dir: &Path, id: &str, definition: &CheckDefinition) -> Result<(), String> {
    write(&file_for(dir, "checks", id), definition)
}

pub fn remove_check(dir: &Path, id: &str) -> Result<(), String> {
    remove(&file_for(dir, "checks", id))
}

fn load_kind<T: DeserializeOwned>(dir: &Path, kind: &str) -> Result<Vec<T>, String> {
    let folder = dir.join(kind);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", folder.display())),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect()
}

pub fn load(dir: &Path) -> Result<Registrations, String> {
    Ok(Registrations { services: load_kind(dir, "services")?, checks: load_kind(dir, "checks")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_round_trip_and_removal_sticks() {
        let dir = tempfile::tempdir().unwrap();
        let root = path_in(dir.path());
        assert!(load(&root).unwrap().services.is_empty());
        let web: ServiceDefinition = serde_json::from_str(r#"{"name":"web","id":"web/1","port":80}"#).unwrap();
        let db: ServiceDefinition = serde_json::from_str(r#"{"name":"db"}"#).unwrap();
        save_service(&root, &web).unwrap();
        save_service(&root, &db).unwrap();
        remove_service(&root, "db").unwrap();
        remove_service(&root, "never-there").unwrap();
        assert_eq!(load(&root).unwrap().services, vec![web]);
    }
}
