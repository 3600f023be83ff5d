//! Where the CLI's HTTP client connects and how: the `-http-addr` and TLS
//! flags, then the environment Consul's API client reads (each variable
//! also as `TESSERA_...`, which wins over `CONSUL_...`), then the defaults.
//! Pure: the environment comes in as a lookup function, so tests need not
//! change the process's.

use crate::cmd::HttpFlags;

pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8500";

/// The resolved settings of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://host:port` or `https://host:port` (any path kept as a prefix).
    pub base: String,
    pub tls: TlsSettings,
    /// The ACL token every request sends as `X-Consul-Token`.
    pub token: Option<String>,
}

impl Endpoint {
    pub fn https(&self) -> bool {
        self.base.starts_with("https://")
    }
}

/// The TLS side: what the agent's certificate is checked against, the
/// client certificate to present, and the name to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub ca_file: Option<String>,
    pub ca_path: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    /// Verified instead of the address's host (any `:port` dropped, as Consul does).
    pub server_name: Option<String>,
    /// `CONSUL_HTTP_SSL_VERIFY=false` turns certificate checks off.
    pub verify: bool,
}

impl TlsSettings {
    /// Whether a file or name was given, so the TLS setup must be built
    /// (and its files checked) even for an http address, as Consul does.
    pub fn configured(&self) -> bool {
        [&self.ca_file, &self.ca_path, &self.client_cert, &self.client_key, &self.server_name]
            .iter()
            .any(|v| v.is_some())
    }
}

/// A variable by its name after the prefix (`HTTP_ADDR`): `TESSERA_` first,
/// then `CONSUL_`; an empty value counts as unset.
fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    ["TESSERA_", "CONSUL_"].iter().find_map(|prefix| env(&format!("{prefix}{name}")).filter(|v| !v.is_empty()))
}

/// The variable's name actually set, for messages.
fn var_name(env: &dyn Fn(&str) -> Option<String>, name: &str) -> String {
    let tessera = format!("TESSERA_{name}");
    match env(&tessera).filter(|v| !v.is_empty()) {
        Some(_) => tessera,
        None => format!("CONSUL_{name}"),
    }
}

/// A boolean variable as Go's `strconv.ParseBool` reads it. An unreadable
/// value is warned about and ignored (Consul warns too; for SSL_VERIFY it
/// would then stop verifying, which Tessera does not).
fn bool_var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<bool> {
    let value = var(env, name)?;
    match parse_go_bool(&value) {
        Some(b) => Some(b),
        None => {
            eprintln!("Warning: could not parse {}: invalid syntax: {value:?}", var_name(env, name));
            None
        }
    }
}

fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Flags win over the environment, which wins over the defaults.
pub fn resolve(flags: &HttpFlags, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Endpoint> {
    let flag = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    let or_env = |value: &Option<String>, name: &str| flag(value).or_else(|| var(env, name));
    let addr = or_env(&flags.http_addr, "HTTP_ADDR").unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_string());
    let ssl = bool_var(env, "HTTP_SSL").unwrap_or(false);
    let tls = TlsSettings {
        ca_file: or_env(&flags.ca_file, "CACERT"),
        ca_path: or_env(&flags.ca_path, "CAPATH"),
        client_cert: or_env(&flags.client_cert, "CLIENT_CERT"),
        client_key: or_env(&flags.client_key, "CLIENT_KEY"),
        server_name: or_env(&flags.tls_server_name, "TLS_SERVER_NAME"),
        verify: bool_var(env, "HTTP_SSL_VERIFY").unwrap_or(true),
    };
    let token = token(flags, env)?;
    Ok(Endpoint { base: base_url(&addr, ssl)?, tls, token })
}

/// Consul's api client order: `-token-file`, `-token`, `HTTP_TOKEN_FILE`,
/// `HTTP_TOKEN`. A file's text is trimmed; an unreadable one is an error.
fn token(flags: &HttpFlags, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Option<String>> {
    let read = |path: &str| -> anyhow::Result<String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("Error reading token file {path}: {e}"))?;
        Ok(text.trim().to_string())
    };
    let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let token = match (given(&flags.token_file), given(&flags.token), var(env, "HTTP_TOKEN_FILE")) {
        (Some(file), _, _) => Some(read(&file)?),
        (None, Some(token), _) => Some(token),
        (None, None, Some(file)) => Some(read(&file)?),
        (None, None, None) => var(env, "HTTP_TOKEN"),
    };
    Ok(token.filter(|t| !t.is_empty()))
}

/// `host:port`, `http://...` or `https://...` to a base URL. `https://` or
/// HTTP_SSL=true means TLS; as in Consul, an `http://` address does not
/// turn TLS off once HTTP_SSL asked for it.
pub fn base_url(addr: &str, ssl: bool) -> anyhow::Result<String> {
    let (scheme, rest) = match addr.split_once("://") {
        None => (None, addr),
        Some(("http", rest)) => (Some("http"), rest),
        Some(("https", rest)) => (Some("https"), rest),
        Some(("unix", _)) => anyhow::bail!("unix sockets are not supported: {addr}"),
        Some((other, _)) => anyhow::bail!("Unknown protocol scheme: {other}"),
    };
    let scheme = if ssl || scheme == Some("https") { "https" } else { "http" };
    Ok(format!("{scheme}://{}", rest.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    fn resolved(flags: &HttpFlags, pairs: &[(&str, &str)]) -> Endpoint {
        resolve(flags, &env(pairs)).unwrap()
    }

    #[test]
    fn addresses_gain_a_scheme() {
        assert_eq!(base_url("127.0.0.5:8500", false).unwrap(), "http://127.0.0.5:8500");
        assert_eq!(base_url("http://h:1/", false).unwrap(), "http://h:1");
        assert_eq!(base_url("https://h:8501", false).unwrap(), "https://h:8501");
        assert_eq!(base_url("h:8501", true).unwrap(), "https://h:8501");
        assert_eq!(base_url("http://h:8501", true).unwrap(), "https://h:8501");
        assert_eq!(base_url("ftp://h:1", false).unwrap_err().to_string(), "Unknown protocol scheme: ftp");
        assert!(base_url("unix:///tmp/s", false).is_err());
    }

    #[test]
    fn the_defaults_are_plain_http_with_verification() {
        let endpoint = resolved(&HttpFlags::default(), &[]);
        assert_eq!(endpoint.base, "http://127.0.0.1:8500");
        assert!(endpoint.tls.verify);
        assert!(!endpoint.tls.configured());
    }

    #[test]
    fn consuls_variables_are_read() {
        let endpoint = resolved(
            &HttpFlags::default(),
            &[
                ("CONSUL_HTTP_ADDR", "10.0.0.1:8501"),
                ("CONSUL_HTTP_SSL", "true"),
                ("CONSUL_HTTP_SSL_VERIFY", "0"),
                ("CONSUL_CACERT", "ca.pem"),
                ("CONSUL_CAPATH", "cas/"),
                ("CONSUL_CLIENT_CERT", "cli.pem"),
                ("CONSUL_CLIENT_KEY", "cli-key.pem"),
                ("CONSUL_TLS_SERVER_NAME", "server.dc1.consul"),
            ],
        );
        assert_eq!(endpoint.base, "https://10.0.0.1:8501");
        let expected = TlsSettings {
            ca_file: Some("ca.pem".into()),
            ca_path: Some("cas/".into()),
            client_cert: Some("cli.pem".into()),
            client_key: Some("cli-key.pem".into()),
            server_name: Some("server.dc1.consul".into()),
            verify: false,
        };
        assert_eq!(endpoint.tls, expected);
    }

    #[test]
    fn tessera_variables_win_over_consuls_and_flags_over_both() {
        let pairs = [
            ("CONSUL_CACERT", "consul.pem"),
            ("TESSERA_CACERT", "tessera.pem"),
            ("CONSUL_TLS_SERVER_NAME", "consul.name"),
            ("TESSERA_TLS_SERVER_NAME", ""),
            ("CONSUL_HTTP_SSL", "true"),
            ("TESSERA_HTTP_SSL", "false"),
        ];
        let endpoint = resolved(&HttpFlags::default(), &pairs);
        assert_eq!(endpoint.tls.ca_file.as_deref(), Some("tessera.pem"));
        // An empty TESSERA_ value is unset: CONSUL_'s counts.
        assert_eq!(endpoint.tls.server_name.as_deref(), Some("consul.name"));
        assert_eq!(endpoint.base, "http://127.0.0.1:8500");
        let flags = HttpFlags {
            ca_file: Some("flag.pem".into()),
            tls_server_name: Some("flag.name".into()),
            http_addr: Some("https://h:1".into()),
            ..HttpFlags::default()
        };
        let endpoint = resolved(&flags, &pairs);
        assert_eq!(endpoint.tls.ca_file.as_deref(), Some("flag.pem"));
        assert_eq!(endpoint.tls.server_name.as_deref(), Some("flag.name"));
        assert_eq!(endpoint.base, "https://h:1");
    }

    #[test]
    fn the_token_comes_from_file_flag_then_flag_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  from-file\n").unwrap();
        let file = file.display().to_string();
        let env_file = [("CONSUL_HTTP_TOKEN_FILE", file.as_str()), ("CONSUL_HTTP_TOKEN", "consul-env")];
        assert_eq!(resolved(&HttpFlags::default(), &env_file).token.as_deref(), Some("from-file"));
        let env = [("TESSERA_HTTP_TOKEN", "tessera-env"), ("CONSUL_HTTP_TOKEN", "consul-env")];
        assert_eq!(resolved(&HttpFlags::default(), &env).token.as_deref(), Some("tessera-env"));
        let flag = HttpFlags { token: Some("flag".into()), ..HttpFlags::default() };
        assert_eq!(resolved(&flag, &env_file).token.as_deref(), Some("flag"));
        let both = HttpFlags { token: Some("flag".into()), token_file: Some(file.clone()), ..HttpFlags::default() };
        assert_eq!(resolved(&both, &env).token.as_deref(), Some("from-file"));
        assert_eq!(resolved(&HttpFlags::default(), &[]).token, None);
    }

    #[test]
    fn booleans_read_as_go_reads_them_and_bad_ones_are_ignored() {
        for (value, verify) in [("false", false), ("F", false), ("0", false), ("True", true), ("yes", true)] {
            let endpoint = resolved(&HttpFlags::default(), &[("CONSUL_HTTP_SSL_VERIFY", value)]);
            assert_eq!(endpoint.tls.verify, verify, "{value}");
        }
        assert_eq!(resolved(&HttpFlags::default(), &[("CONSUL_HTTP_SSL", "on")]).base, "http://127.0.0.1:8500");
    }
}
