//! Loading service and check definitions from `-config-dir` and
//! `-config-file`: every `*.json` and `*.hcl`, in lexical order. One bad
//! file fails the whole load, naming the file, the field and the reason, so
//! a reload can refuse it and keep what runs.

use std::path::Path;
use std::path::PathBuf;

use tessera_mesh::catalog::definition::ScriptChecks;
use tessera_mesh::catalog::CheckDefinition;
use tessera_mesh::catalog::ConfigFile;
use tessera_mesh::catalog::ServiceDefinition;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct LoadError {
    pub file: String,
    pub message: String,
}

/// Everything the config files define, each with the file it came from.
#[derive(Debug, Default, Clone)]
pub struct Definitions {
    pub services: Vec<(String, ServiceDefinition)>,
    pub checks: Vec<(String, CheckDefinition)>,
}

/// Where definitions come from.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub config_dirs: Vec<PathBuf>,
    pub config_files: Vec<PathBuf>,
}

impl Sources {
    pub fn is_empty(&self) -> bool {
        self.config_dirs.is_empty() && self.config_files.is_empty()
    }

    /// Reads and validates every file; the first problem fails the load.
    /// Script checks are allowed as `script_checks` allows them from
    /// config files.
    pub fn load(&self, script_checks: ScriptChecks) -> Result<Definitions, LoadError> {
        let scripts = script_checks.for_config_files();
        let mut files = Vec::new();
        for dir in &self.config_dirs {
            files.extend(files_in(dir)?);
        }
        files.extend(self.config_files.iter().cloned());
        let mut definitions = Definitions::default();
        for file in files {
            let name = file.display().to_string();
            let parsed = parse_file(&file)?;
            for service in parsed.all_services() {
                service.validate(scripts).map_err(|e| LoadError {
                    file: name.clone(),
                    message: format!("service {:?}: {e}", service.name),
                })?;
                definitions.services.push((name.clone(), service.clone()));
            }
            for (i, check) in parsed.all_checks().enumerate() {
                check
                    .kind(&format!("checks[{i}]"), scripts)
                    .map_err(|e| LoadError { file: name.clone(), message: e.to_string() })?;
                definitions.checks.push((name.clone(), check.clone()));
            }
        }
        reject_duplicate_ids(&definitions)?;
        Ok(definitions)
    }
}

fn files_in(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let unreadable = |e: std::io::Error| LoadError {
        file: dir.display().to_string(),
        message: format!("cannot read config dir: {e}"),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "hcl")))
        .collect();
    files.sort();
    Ok(files)
}

fn parse_file(path: &Path) -> Result<ConfigFile, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError { file: file.clone(), message: format!("cannot read: {e}") })?;
    ConfigFile::parse(path, &text).map_err(|message| LoadError { file, message })
}

fn reject_duplicate_ids(definitions: &Definitions) -> Result<(), LoadError> {
    let mut seen: std::collections::BTreeMap<String, &str> = Default::default();
    for (file, service) in &definitions.services {
        let id = service.effective_id();
        if let Some(first) = seen.insert(id.clone(), file) {
            return Err(LoadError {
                file: file.clone(),
                message: format!("service id {id:?} is already defined in {first}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn load(dir: &tempfile::TempDir) -> Result<Definitions, LoadError> {
        load_with(dir, ScriptChecks::default())
    }

    fn load_with(dir: &tempfile::TempDir, scripts: ScriptChecks) -> Result<Definitions, LoadError> {
        Sources { config_dirs: vec![dir.path().to_path_buf()], config_files: vec![] }.load(scripts)
    }

    #[test]
    fn json_and_hcl_files_load_in_order_and_other_files_are_ignored() {
        let dir = dir_with(&[
            ("b.json", r#"{"service": {"name": "socat", "port": 8181, "connect": {"sidecar_service": {}}}}"#),
            ("a.hcl", "service {\n  name = \"web\"\n  port = 8080\n  tags = [\"v1\"]\n}\n"),
            ("notes.txt", "not config"),
        ]);
        let defs = load(&dir).unwrap();
        let names: Vec<_> = defs.services.iter().map(|(_, s)| s.name.as_str()).collect();
        assert_eq!(names, vec!["web", "socat"]);
        assert_eq!(defs.services[0].1.tags, vec!["v1"]);
    }

    #[test]
    fn a_bad_file_is_named_with_its_field() {
        let dir = dir_with(&[
            ("good.json", r#"{"service": {"name": "a"}}"#),
            ("bad.json", r#"{"service": {"name": "b", "port": "eighty"}}"#),
        ]);
        let err = load(&dir).unwrap_err();
        assert!(err.file.ends_with("bad.json"), "{err}");
        let dir = dir_with(&[("bad.json", r#"{"service": {"name": "b", "check": {"tcp": "x:1"}}}"#)]);
        let err = load(&dir).unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("checks[0].interval"), "{err}");
    }

    #[test]
    fn script_checks_in_files_need_either_setting() {
        let dir = dir_with(&[(
            "s.json",
            r#"{"service": {"name": "s", "check": {"args": ["/bin/true"], "interval": "5s"}}}"#,
        )]);
        let err = load(&dir).unwrap_err().to_string();
        assert!(
            err.contains("checks[0].args: Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true"),
            "{err}"
        );
        for allowed in [
            ScriptChecks { enable_local_script_checks: true, ..Default::default() },
            ScriptChecks { enable_script_checks: true, ..Default::default() },
        ] {
            assert_eq!(load_with(&dir, allowed).unwrap().services.len(), 1, "{allowed:?}");
        }
    }

    #[test]
    fn the_same_service_id_in_two_files_is_refused() {
        let dir =
            dir_with(&[("1.json", r#"{"service": {"name": "a"}}"#), ("2.json", r#"{"services": [{"name": "a"}]}"#)]);
        let err = load(&dir).unwrap_err().to_string();
        assert!(err.contains("already defined"), "{err}");
    }
}
