//! Service and check definitions as users write them: agent config files
//! (`*.json`, `*.hcl`, snake_case) and API bodies (Consul's CamelCase is
//! accepted too). [`ServiceDefinition::validate`] names the field at fault.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::Serialize;

pub use crate::catalog::check_kind::CheckKind;
pub use crate::catalog::check_kind::CheckTls;
pub use crate::catalog::check_kind::ScriptChecks;
pub use crate::catalog::check_kind::Scripts;
pub use crate::catalog::check_kind::DEFAULT_CHECK_TIMEOUT;
use crate::catalog::model::ProxySettings;
use crate::catalog::model::Service;
use crate::catalog::model::ServiceKind;
use crate::catalog::model::Upstream;
use crate::catalog::model::Weights;

/// A bad definition: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct DefinitionError {
    pub field: String,
    pub reason: String,
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> DefinitionError {
    DefinitionError { field: field.into(), reason: reason.into() }
}

/// The service and check definitions of one agent config file. The file may
/// hold every other agent key Consul knows too ([`crate::agent_config`]
/// decodes and checks them; the agent acts on them at start): an unknown
/// key, a wrong type or a key of later work refuses the whole file.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// `service` and `services`, in file order.
    pub services: Vec<ServiceDefinition>,
    /// `check` and `checks`, in file order.
    pub checks: Vec<CheckDefinition>,
}

impl ConfigFile {
    /// One file's text, read as JSON when it starts with `{` or `path` ends
    /// in `.json`, else as HCL. Empty text holds nothing. The error is the
    /// parser's (it names line and column) or the list of bad keys, each by
    /// its dotted path; callers add the file name.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, String> {
        let format = crate::agent_config::Format::sniff(path, text);
        let file = crate::agent_config::parse(text, format).map_err(|e| e.to_string())?;
        Ok(ConfigFile { services: file.services, checks: file.checks })
    }

    pub fn all_services(&self) -> impl Iterator<Item = &ServiceDefinition> {
        self.services.iter()
    }

    pub fn all_checks(&self) -> impl Iterator<Item = &CheckDefinition> {
        self.checks.iter()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDefinition {
    #[serde(default, alias = "ID", alias = "Id")]
    pub id: Option<String>,
    #[serde(default, alias = "Name")]
    pub name: String,
    #[serde(default, alias = "Tags")]
    pub tags: Vec<String>,
    #[serde(default, alias = "Address")]
    pub address: String,
    #[serde(default, alias = "Port")]
    pub port: u16,
    #[serde(default, alias = "Meta")]
    pub meta: BTreeMap<String, String>,
    #[serde(default, alias = "Kind")]
    pub kind: String,
    #[serde(default, alias = "Proxy")]
    pub proxy: Option<ProxyDefinition>,
    #[serde(default, alias = "Connect")]
    pub connect: Option<ConnectDefinition>,
    #[serde(default, alias = "Check")]
    pub check: Option<CheckDefinition>,
    #[serde(default, alias = "Checks")]
    pub checks: Vec<CheckDefinition>,
    #[serde(default, alias = "Weights")]
    pub weights: Option<WeightsDefinition>,
    #[serde(default, alias = "EnableTagOverride")]
    pub enable_tag_override: bool,
    /// Accepted for compatibility; ACLs are not enforced yet.
    #[serde(default, alias = "Token")]
    pub token: Option<String>,
    // Accepted as Consul's API takes them (Go's client sends them), not acted
    // on yet: listed in docs/consul-compatibility.md.
    #[serde(default, alias = "SocketPath", skip_serializing_if = "String::is_empty")]
    pub socket_path: String,
    #[serde(default, alias = "TaggedAddresses", skip_serializing_if = "BTreeMap::is_empty")]
    pub tagged_addresses: BTreeMap<String, serde_json::Value>,
    /// Only `default` (or none): namespaces are an Enterprise feature.
    #[serde(default, alias = "Namespace", skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Only `default` (or none): partitions are an Enterprise feature.
    #[serde(default, alias = "Partition", skip_serializing_if = "String::is_empty")]
    pub partition: String,
    #[serde(default, alias = "Locality", skip_serializing_if = "Option::is_none")]
    pub locality: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectDefinition {
    #[serde(default, alias = "Native")]
    pub native: bool,
    #[serde(default, alias = "SidecarService")]
    pub sidecar_service: Option<Box<ServiceDefinition>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyDefinition {
    #[serde(default, alias = "DestinationServiceName")]
    pub destination_service_name: String,
    #[serde(default, alias = "DestinationServiceID")]
    pub destination_service_id: String,
    #[serde(default, alias = "LocalServiceAddress")]
    pub local_service_address: String,
    #[serde(default, alias = "LocalServicePort")]
    pub local_service_port: u16,
    #[serde(default, alias = "Mode")]
    pub mode: String,
    #[serde(default, alias = "Config")]
    pub config: BTreeMap<String, serde_json::Value>,
    #[serde(default, alias = "Upstreams")]
    pub upstreams: Vec<UpstreamDefinition>,
    // Accepted, not acted on yet (Go's client always sends `{}` for both).
    #[serde(default, alias = "MeshGateway", skip_serializing_if = "Option::is_none")]
    pub mesh_gateway: Option<serde_json::Value>,
    #[serde(default, alias = "Expose", skip_serializing_if = "Option::is_none")]
    pub expose: Option<serde_json::Value>,
    #[serde(default, alias = "TransparentProxy", skip_serializing_if = "Option::is_none")]
    pub transparent_proxy: Option<serde_json::Value>,
    #[serde(default, alias = "AccessLogs", skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<serde_json::Value>,
    #[serde(default, alias = "LocalServiceSocketPath", skip_serializing_if = "String::is_empty")]
    pub local_service_socket_path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamDefinition {
    #[serde(default, alias = "DestinationType")]
    pub destination_type: String,
    #[serde(default, alias = "DestinationName")]
    pub destination_name: String,
    #[serde(default, alias = "DestinationNamespace")]
    pub destination_namespace: String,
    #[serde(default, alias = "Datacenter")]
    pub datacenter: String,
    #[serde(default, alias = "LocalBindAddress")]
    pub local_bind_address: String,
    #[serde(default, alias = "LocalBindPort")]
    pub local_bind_port: u16,
    #[serde(default, alias = "Config")]
    pub config: BTreeMap<String, serde_json::Value>,
    // Accepted, not acted on yet.
    #[serde(default, alias = "DestinationPartition", skip_serializing_if = "String::is_empty")]
    pub destination_partition: String,
    #[serde(default, alias = "DestinationPeer", skip_serializing_if = "String::is_empty")]
    pub destination_peer: String,
    #[serde(default, alias = "LocalBindSocketPath", skip_serializing_if = "String::is_empty")]
    pub local_bind_socket_path: String,
    #[serde(default, alias = "LocalBindSocketMode", skip_serializing_if = "String::is_empty")]
    pub local_bind_socket_mode: String,
    #[serde(default, alias = "MeshGateway", skip_serializing_if = "Option::is_none")]
    pub mesh_gateway: Option<serde_json::Value>,
    #[serde(default, alias = "CentrallyConfigured", skip_serializing_if = "std::ops::Not::not")]
    pub centrally_configured: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsDefinition {
    #[serde(default, alias = "Passing")]
    pub passing: u32,
    #[serde(default, alias = "Warning")]
    pub warning: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDefinition {
    #[serde(default, alias = "ID", alias = "CheckID", alias = "check_id")]
    pub id: Option<String>,
    #[serde(default, alias = "Name")]
    pub name: String,
    #[serde(default, alias = "Notes")]
    pub notes: String,
    #[serde(default, alias = "ServiceID")]
    pub service_id: String,
    #[serde(default, alias = "TCP")]
    pub tcp: String,
    #[serde(default, alias = "HTTP")]
    pub http: String,
    #[serde(default, alias = "Method")]
    pub method: String,
    #[serde(default, alias = "Header")]
    pub header: BTreeMap<String, Vec<String>>,
    #[serde(default, alias = "Body")]
    pub body: String,
    #[serde(default, alias = "TLSSkipVerify")]
    pub tls_skip_verify: bool,
    #[serde(default, alias = "TTL")]
    pub ttl: String,
    #[serde(default, alias = "Interval")]
    pub interval: String,
    #[serde(default, alias = "Timeout")]
    pub timeout: String,
    #[serde(default, alias = "Status")]
    pub status: String,
    #[serde(default, alias = "AliasService")]
    pub alias_service: String,
    #[serde(default, alias = "AliasNode")]
    pub alias_node: String,
    #[serde(default, alias = "DeregisterCriticalServiceAfter")]
    pub deregister_critical_service_after: String,
    #[serde(default, alias = "SuccessBeforePassing")]
    pub success_before_passing: u32,
    #[serde(default, alias = "FailuresBeforeCritical")]
    pub failures_before_critical: u32,
    #[serde(default, alias = "Args", alias = "ScriptArgs")]
    pub args: Vec<String>,
    #[serde(default, alias = "GRPC")]
    pub grpc: String,
    #[serde(default, alias = "UDP", skip_serializing_if = "String::is_empty")]
    pub udp: String,
    #[serde(default, alias = "H2PING", skip_serializing_if = "String::is_empty")]
    pub h2ping: String,
    // Types Consul has that this agent does not run: accepted, and a check
    // of such a type is refused by name in `kind` (the reason says why).
    #[serde(default, alias = "OSService", skip_serializing_if = "String::is_empty")]
    pub os_service: String,
    #[serde(default, alias = "DockerContainerID", skip_serializing_if = "String::is_empty")]
    pub docker_container_id: String,
    // Accepted, not acted on yet: `shell` belongs to Docker checks.
    #[serde(default, alias = "Shell", skip_serializing_if = "String::is_empty")]
    pub shell: String,
    #[serde(default, alias = "TCPUseTLS", skip_serializing_if = "std::ops::Not::not")]
    pub tcp_use_tls: bool,
    // TLS of gRPC and H2PING checks; `tls_skip_verify` and
    // `tls_server_name` apply to https URLs of HTTP checks too.
    #[serde(default, alias = "GRPCUseTLS", skip_serializing_if = "std::ops::Not::not")]
    pub grpc_use_tls: bool,
    #[serde(default, alias = "H2PingUseTLS", skip_serializing_if = "Option::is_none")]
    pub h2ping_use_tls: Option<bool>,
    #[serde(default, alias = "TLSServerName", skip_serializing_if = "String::is_empty")]
    pub tls_server_name: String,
    #[serde(default, alias = "FailuresBeforeWarning", skip_serializing_if = "is_zero")]
    pub failures_before_warning: u32,
    #[serde(default, alias = "Namespace", skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, alias = "Partition", skip_serializing_if = "String::is_empty")]
    pub partition: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

const MAX_META_KEYS: usize = 64;

/// Namespaces and partitions are Consul Enterprise features: only the one
/// that always exists, `default`, may be named.
pub fn only_default(field: &str, value: &str) -> Result<(), DefinitionError> {
    match value {
        "" | "default" => Ok(()),
        other => Err(bad(field, format!("{other:?}: only \"default\" exists (an Enterprise feature)"))),
    }
}

impl ServiceDefinition {
    /// The instance id: `id`, else the name.
    pub fn effective_id(&self) -> String {
        self.id.clone().filter(|id| !id.is_empty()).unwrap_or_else(|| self.name.clone())
    }

    /// The service's checks, from `check` and `checks`.
    pub fn all_checks(&self) -> impl Iterator<Item = &CheckDefinition> {
        self.check.iter().chain(&self.checks)
    }

    /// Validates the definition and its checks; `scripts` says whether
    /// they may be script checks (it depends on where the definition came
    /// from).
    pub fn validate(&self, scripts: Scripts) -> Result<(), DefinitionError> {
        if self.name.is_empty() {
            return Err(bad("name", "missing service name"));
        }
        only_default("namespace", &self.namespace)?;
        only_default("partition", &self.partition)?;
        let kind =
            ServiceKind::parse(&self.kind).ok_or_else(|| bad("kind", format!("unknown kind {:?}", self.kind)))?;
        validate_meta(&self.meta)?;
        for (i, check) in self.all_checks().enumerate() {
            check.kind(&format!("checks[{i}]"), scripts)?;
        }
        if kind == ServiceKind::ConnectProxy {
            let proxy = self.proxy.as_ref().ok_or_else(|| bad("proxy", "a connect-proxy needs a proxy block"))?;
            if proxy.destination_service_name.is_empty() {
                return Err(bad("proxy.destination_service_name", "required for a connect-proxy"));
            }
        }
        for (i, upstream) in self.proxy.iter().flat_map(|p| &p.upstreams).enumerate() {
            if upstream.destination_name.is_empty() {
                return Err(bad(format!("proxy.upstreams[{i}].destination_name"), "required"));
            }
        }
        if let Some(connect) = &self.connect {
            if connect.native && kind == ServiceKind::ConnectProxy {
                return Err(bad("connect.native", "a connect-proxy cannot be native"));
            }
            if let Some(sidecar) = &connect.sidecar_service {
                validate_sidecar_block(sidecar, scripts)?;
            }
        }
        Ok(())
    }

    /// The catalog form of this (validated) definition.
    pub fn to_service(&self) -> Service {
        let kind = ServiceKind::parse(&self.kind).unwrap_or_default();
        Service {
            id: self.effective_id(),
            name: self.name.clone(),
            tags: self.tags.clone(),
            address: self.address.clone(),
            port: self.port,
            meta: self.meta.clone(),
            kind,
            proxy: self.proxy.as_ref().map(ProxyDefinition::to_settings),
            connect_native: self.connect.as_ref().is_some_and(|c| c.native),
            weights: self
                .weights
                .map(|w| Weights { passing: w.passing.max(1), warning: w.warning })
                .unwrap_or_default(),
            enable_tag_override: self.enable_tag_override,
        }
    }
}

fn validate_meta(meta: &BTreeMap<String, String>) -> Result<(), DefinitionError> {
    if meta.len() > MAX_META_KEYS {
        return Err(bad("meta", format!("at most {MAX_META_KEYS} keys, got {}", meta.len())));
    }
    for (key, value) in meta {
        let well_formed = !key.is_empty()
            && key.len() <= 128
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !well_formed {
            return Err(bad(format!("meta.{key}"), "keys are 1-128 characters of A-Z a-z 0-9 _ -"));
        }
        if key.starts_with("consul-") {
            return Err(bad(format!("meta.{key}"), "the consul- prefix is reserved"));
        }
        if value.len() > 512 {
            return Err(bad(format!("meta.{key}"), "values are at most 512 characters"));
        }
    }
    Ok(())
}

/// Consul forbids these inside `connect.sidecar_service`.
fn validate_sidecar_block(sidecar: &ServiceDefinition, scripts: Scripts) -> Result<(), DefinitionError> {
    let field = "connect.sidecar_service";
    if sidecar.id.as_deref().is_some_and(|id| !id.is_empty()) {
        return Err(bad(format!("{field}.id"), "the sidecar id is always <service id>-sidecar-proxy"));
    }
    if !sidecar.kind.is_empty() {
        return Err(bad(format!("{field}.kind"), "a sidecar is always connect-proxy"));
    }
    if let Some(connect) = &sidecar.connect {
        if connect.sidecar_service.is_some() {
            return Err(bad(format!("{field}.connect.sidecar_service"), "a sidecar cannot have its own sidecar"));
        }
        if connect.native {
            return Err(bad(format!("{field}.connect.native"), "a sidecar cannot be native"));
        }
    }
    validate_meta(&sidecar.meta).map_err(|e| bad(format!("{field}.{}", e.field), e.reason))?;
    for (i, check) in sidecar.all_checks().enumerate() {
        check.kind(&format!("{field}.checks[{i}]"), scripts)?;
    }
    for (i, upstream) in sidecar.proxy.iter().flat_map(|p| &p.upstreams).enumerate() {
        if upstream.destination_name.is_empty() {
            return Err(bad(format!("{field}.proxy.upstreams[{i}].destination_name"), "required"));
        }
    }
    Ok(())
}

impl ProxyDefinition {
    pub fn to_settings(&self) -> ProxySettings {
        ProxySettings {
            destination_service_name: self.destination_service_name.clone(),
            destination_service_id: self.destination_service_id.clone(),
            local_service_address: self.local_service_address.clone(),
            local_service_port: self.local_service_port,
            mode: if self.mode.is_empty() { "direct".into() } else { self.mode.clone() },
            config: self.config.clone(),
            upstreams: self.upstreams.iter().map(UpstreamDefinition::to_upstream).collect(),
        }
    }
}

impl UpstreamDefinition {
    pub fn to_upstream(&self) -> Upstream {
        let or = |value: &str, default: &str| if value.is_empty() { default.to_string() } else { value.to_string() };
        Upstream {
            destination_type: or(&self.destination_type, "service"),
            destination_name: self.destination_name.clone(),
            destination_namespace: or(&self.destination_namespace, "default"),
            datacenter: self.datacenter.clone(),
            local_bind_address: or(&self.local_bind_address, "127.0.0.1"),
            local_bind_port: self.local_bind_port,
            config: self.config.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn service(json: &str) -> ServiceDefinition {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn snake_case_files_and_camel_case_api_bodies_mean_the_same() {
        let file = service(r#"{"name":"web","id":"web1","port":80,"tags":["a"],"connect":{"sidecar_service":{}}}"#);
        let api = service(r#"{"Name":"web","ID":"web1","Port":80,"Tags":["a"],"Connect":{"SidecarService":{}}}"#);
        assert_eq!(file, api);
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = serde_json::from_str::<ServiceDefinition>(r#"{"name":"web","prot":80}"#).unwrap_err().to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (r#"{"port":1}"#, "name"),
            (r#"{"name":"a","kind":"weird"}"#, "kind"),
            (r#"{"name":"a","check":{"tcp":"x:1"}}"#, "checks[0].interval"),
            (r#"{"name":"a","check":{"tcp":"x:1","ttl":"1s"}}"#, "checks[0]"),
            (r#"{"name":"a","check":{"ttl":"soon"}}"#, "checks[0].ttl"),
            (r#"{"name":"a","connect":{"sidecar_service":{"id":"x"}}}"#, "connect.sidecar_service.id"),
            (r#"{"name":"a","meta":{"consul-x":"1"}}"#, "meta.consul-x"),
            (r#"{"name":"a","kind":"connect-proxy"}"#, "proxy"),
            (r#"{"name":"a","proxy":{"upstreams":[{"local_bind_port":1}]}}"#, "proxy.upstreams[0].destination_name"),
        ];
        for (json, field) in cases {
            let err = service(json).validate(Scripts::Allowed).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
        }
    }

    #[test]
    fn checks_are_classified_with_defaults() {
        let check: CheckDefinition = serde_json::from_str(r#"{"http":"http://x/","interval":"5s"}"#).unwrap();
        match check.kind("check", Scripts::Allowed).unwrap() {
            CheckKind::Http { method, timeout, interval, .. } => {
                assert_eq!((method.as_str(), timeout, interval), ("GET", DEFAULT_CHECK_TIMEOUT, Duration::from_secs(5)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upstream_defaults_follow_consul() {
        let upstream: UpstreamDefinition =
            serde_json::from_str(r#"{"destination_name":"db","local_bind_port":9191}"#).unwrap();
        let u = upstream.to_upstream();
        assert_eq!((u.destination_type.as_str(), u.local_bind_address.as_str()), ("service", "127.0.0.1"));
    }
}
