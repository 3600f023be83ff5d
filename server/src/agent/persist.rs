//! Services and checks registered through the API survive restarts: they
//! are kept in `<data-dir>/agent/registrations.json`, rewritten atomically
//! on every change.

use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;
use serde::Serialize;
use tessera_proto::catalog::CheckDefinition;
use tessera_proto::catalog::ServiceDefinition;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Registrations {
    #[serde(default)]
    pub services: Vec<ServiceDefinition>,
    #[serde(default)]
    pub checks: Vec<CheckDefinition>,
}

pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("agent").join("registrations.json")
}

pub fn load(path: &Path) -> Result<Registrations, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registrations::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

pub fn save(path: &Path, registrations: &Registrations) -> Result<(), String> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(registrations).expect("registrations serialize"))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_round_trip_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        assert!(load(&path).unwrap().services.is_empty());
        let service: ServiceDefinition = serde_json::from_str(r#"{"name":"web","port":80}"#).unwrap();
        save(&path, &Registrations { services: vec![service.clone()], checks: vec![] }).unwrap();
        assert_eq!(load(&path).unwrap().services, vec![service]);
    }
}
