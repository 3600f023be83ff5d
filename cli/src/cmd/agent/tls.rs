//! The TLS settings of `tessera agent`: the server port's, the HTTPS
//! API's and the gRPC TLS port's. Each is its `tls` block over
//! `tls.defaults` over the old top-level keys, as Consul's builder has it,
//! with the `-ca-file`/`-cert-file`/... flags winning over all of them.

use std::path::PathBuf;

use tessera_mesh::agent_config;
use tessera_server::config::AutoEncrypt;
use tessera_server::config::ListenerSettings;
use tessera_server::config::MinVersion;
use tessera_server::config::RpcTlsConfig;
use tessera_server::config::TlsFiles;

use super::AgentArgs;

impl AgentArgs {
    /// The server port's TLS: `tls.internal_rpc` over `tls.defaults` over
    /// the old top-level keys, each file key under its flag.
    pub(super) fn rpc_tls(&self, file: &agent_config::AgentSettings) -> Result<(RpcTlsConfig, AutoEncrypt), String> {
        let given = file.tls.internal_rpc.over(&defaults(file));
        let files = self.files(&given);
        let min_version = MinVersion::parse(given.tls_min_version.as_deref().unwrap_or_default())?;
        let any =
            files.ca_file.is_some() || files.ca_path.is_some() || files.cert_file.is_some() || files.key_file.is_some();
        let rpc_tls = match (self.insecure_plaintext_rpc, any) {
            (true, true) => {
                return Err("-insecure-plaintext-rpc and TLS files for the server port exclude each other".into())
            }
            (true, false) => RpcTlsConfig::Plaintext,
            (false, true) => RpcTlsConfig::Files { files, min_version },
            (false, false) => RpcTlsConfig::Unset,
        };
        let auto_encrypt = AutoEncrypt {
            tls: file.auto_encrypt.tls.unwrap_or(false),
            allow_tls: file.auto_encrypt.allow_tls.unwrap_or(false),
        };
        Ok((rpc_tls, auto_encrypt))
    }

    /// The HTTPS listener's TLS: `tls.https` over `tls.defaults`. Its
    /// verify_incoming: `tls.https`'s, else the old `verify_incoming_https`,
    /// else `tls.defaults`', else the old `verify_incoming`.
    pub(super) fn https_tls(&self, file: &agent_config::AgentSettings) -> Result<ListenerSettings, String> {
        let mut https = file.tls.https.clone();
        https.verify_incoming = https.verify_incoming.or(file.verify_incoming_https);
        self.listener_settings(&https.over(&defaults(file)))
    }

    /// The gRPC TLS listener's: `tls.grpc` over `tls.defaults`. As in
    /// Consul, the old top-level `verify_incoming` does not reach gRPC
    /// (before the stanza it never applied there): it sets
    /// `tls.grpc.verify_incoming = false` unless that is given.
    pub(super) fn grpc_tls(&self, file: &agent_config::AgentSettings) -> Result<ListenerSettings, String> {
        let mut grpc = file.tls.grpc.clone();
        grpc.verify_incoming = grpc.verify_incoming.or(file.top_level_tls.verify_incoming.map(|_| false));
        self.listener_settings(&grpc.over(&defaults(file)))
    }

    fn listener_settings(&self, given: &agent_config::TlsFiles) -> Result<ListenerSettings, String> {
        Ok(ListenerSettings {
            files: self.files(given),
            min_version: MinVersion::parse(given.tls_min_version.as_deref().unwrap_or_default())?,
            verify_incoming: given.verify_incoming.unwrap_or(false),
        })
    }

    /// The files `given` names, each under its flag.
    fn files(&self, given: &agent_config::TlsFiles) -> TlsFiles {
        let path =
            |flag: &Option<PathBuf>, key: &Option<String>| flag.clone().or_else(|| key.as_ref().map(PathBuf::from));
        TlsFiles {
            ca_file: path(&self.ca_file, &given.ca_file),
            ca_path: path(&self.ca_path, &given.ca_path),
            cert_file: path(&self.cert_file, &given.cert_file),
            key_file: path(&self.key_file, &given.key_file),
        }
    }
}

/// `tls.defaults` over the old top-level keys.
fn defaults(file: &agent_config::AgentSettings) -> agent_config::TlsFiles {
    file.tls.defaults.over(&file.top_level_tls)
}
