//! Consul's agent config files from disk: `-config-file` and `-config-dir`
//! paths in command-line order (a directory expands in place, its regular
//! files sorted by name, not recursively), each decoded by
//! `tessera_mesh::agent_config` and merged over the ones before it.

use std::path::Path;
use std::path::PathBuf;

use tessera_mesh::agent_config;
use tessera_mesh::agent_config::FileConfig;
use tessera_mesh::agent_config::Format;

/// The merged files and what loading them warned about.
#[derive(Debug, Default)]
pub struct Loaded {
    pub config: FileConfig,
    /// Skipped files, deprecated and Enterprise keys, in Consul's words.
    pub warnings: Vec<String>,
}

/// `-config-format`'s value, checked as Consul checks it.
pub fn format_flag(value: Option<&str>) -> Result<Option<Format>, String> {
    match value {
        None | Some("") => Ok(None),
        Some(name) => Format::from_name(name)
            .map(Some)
            .ok_or_else(|| "config: -config-format must be either 'hcl' or 'json'".to_string()),
    }
}

/// Reads every path in order; the first bad file fails the load, named.
pub fn load(paths: &[PathBuf], forced: Option<Format>) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    for path in paths {
        for (file, format) in files_of(path, forced, &mut loaded.warnings)? {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("Error reading {}: {e}", file.display()))?;
            let parsed =
                agent_config::parse(&text, format).map_err(|e| format!("failed to parse {}: {e}", file.display()))?;
            if Format::from_path(&file).is_none()
                && path.is_dir()
                && !(parsed.services.is_empty() && parsed.checks.is_empty())
            {
                // The agent's service loader reads only *.json and *.hcl in a directory.
                return Err(format!(
                    "{}: services and checks are read only from .json and .hcl files in a config dir \
                     (-config-format too); rename the file or give it with -config-file",
                    file.display()
                ));
            }
            loaded.warnings.extend(parsed.warnings.iter().cloned());
            loaded.config.merge(parsed);
        }
    }
    loaded.config.warnings.clear();
    Ok(loaded)
}

/// Consul's `-hcl`: fragments of agent config merged after every file, in
/// order (`-dev -hcl 'acl { enabled = true }'`). Services and checks
/// belong in files, where the agent's service loader reads them.
pub fn merge_fragments(loaded: &mut Loaded, fragments: &[String]) -> Result<(), String> {
    for fragment in fragments {
        let parsed = agent_config::parse(fragment, Format::Hcl).map_err(|e| format!("failed to parse -hcl: {e}"))?;
        if !(parsed.services.is_empty() && parsed.checks.is_empty()) {
            return Err("-hcl: services and checks go in a config file (-config-file or -config-dir)".into());
        }
        loaded.warnings.extend(parsed.warnings.iter().cloned());
        loaded.config.merge(parsed);
    }
    loaded.config.warnings.clear();
    Ok(())
}

/// The files `path` stands for, each with the format to read it in.
fn files_of(path: &Path, forced: Option<Format>, warnings: &mut Vec<String>) -> Result<Vec<(PathBuf, Format)>, String> {
    let unreadable = |e: std::io::Error| format!("Error reading {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_dir() {
        let format = forced.or_else(|| Format::from_path(path)).ok_or_else(|| {
            format!(
                "file {} has unknown extension; must be .hcl or .json, or config format must be set",
                path.display()
            )
        })?;
        return Ok(vec![(path.to_path_buf(), format)]);
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(path).map_err(unreadable)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    // Go sorts names byte-wise, as OsString compares on Unix.
    entries.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let mut files = Vec::new();
    for entry in entries {
        // Symlinks resolved; subdirectories are not read.
        if !std::fs::metadata(&entry).map(|m| m.is_file()).unwrap_or(false) {
            continue;
        }
        match forced.or_else(|| Format::from_path(&entry)) {
            Some(format) => files.push((entry, format)),
            None => warnings.push(format!(
                "skipping file {}, extension must be .hcl or .json, or config format must be set",
                entry.display()
            )),
        }
    }
    Ok(files)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A directory of `files`, removed when dropped.
    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub(crate) fn dir_with(files: &[(&str, &str)]) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tessera-cli-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        TempDir(dir)
    }

    #[test]
    fn a_dir_is_read_in_name_order_and_later_files_win() {
        let dir = dir_with(&[
            ("b.json", r#"{"datacenter": "second", "retry_join": ["b"]}"#),
            ("a.hcl", "datacenter = \"first\"\nnode_name = \"n1\"\nretry_join = [\"a\"]\n"),
            ("notes.txt", "not config"),
            ("empty.json", ""),
        ]);
        let loaded = load(&[dir.path().to_path_buf()], None).unwrap();
        let settings = loaded.config.settings().unwrap();
        assert_eq!(settings.datacenter.as_deref(), Some("second"));
        assert_eq!(settings.node_name.as_deref(), Some("n1"));
        assert_eq!(settings.retry_join, vec!["a", "b"]);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].starts_with("skipping file") && loaded.warnings[0].contains("notes.txt"));
    }

    #[test]
    fn files_and_dirs_are_read_in_the_order_given() {
        let dir = dir_with(&[("a.json", r#"{"datacenter": "from-dir"}"#), ("z.hcl", "datacenter = \"from-file\"\n")]);
        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).unwrap();
        std::fs::rename(dir.path().join("a.json"), sub.join("a.json")).unwrap();
        let file = dir.path().join("z.hcl");
        let dc = |paths: &[PathBuf]| load(paths, None).unwrap().config.settings().unwrap().datacenter;
        assert_eq!(dc(&[sub.clone(), file.clone()]).as_deref(), Some("from-file"));
        assert_eq!(dc(&[file, sub]).as_deref(), Some("from-dir"));
    }

    #[test]
    fn an_unknown_key_names_the_file_and_the_key() {
        let dir = dir_with(&[("consul.hcl", "datacenter = \"dc1\"\nbogus_key = 1\n")]);
        let err = load(&[dir.path().to_path_buf()], None).unwrap_err();
        let file = dir.path().join("consul.hcl");
        assert_eq!(
            err,
            format!("failed to parse {}: 1 error occurred:\n\t* invalid config key bogus_key", file.display())
        );
    }

    #[test]
    fn extensions_and_config_format() {
        let dir = dir_with(&[("agent.conf", "datacenter = \"dc9\"\n")]);
        let file = dir.path().join("agent.conf");
        let err = load(std::slice::from_ref(&file), None).unwrap_err();
        assert!(err.contains("has unknown extension; must be .hcl or .json, or config format must be set"), "{err}");
        let loaded = load(&[file], Some(Format::Hcl)).unwrap();
        assert_eq!(loaded.config.settings().unwrap().datacenter.as_deref(), Some("dc9"));
        let loaded = load(&[dir.path().to_path_buf()], Some(Format::Hcl)).unwrap();
        assert_eq!(loaded.config.settings().unwrap().datacenter.as_deref(), Some("dc9"));
        assert_eq!(format_flag(Some("yaml")).unwrap_err(), "config: -config-format must be either 'hcl' or 'json'");
    }
}
