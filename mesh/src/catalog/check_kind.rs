//! What a check definition asks the agent to run, once validated
//! ([`CheckDefinition::kind`]): one of Consul's check types with its
//! settings resolved (defaults, durations, targets). Script checks run
//! programs, so whether one may be defined depends on the agent's settings
//! and on where the definition came from ([`ScriptChecks`], [`Scripts`]);
//! the caller decides that and passes it in, keeping this a pure function.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::catalog::definition::CheckDefinition;
use crate::catalog::definition::DefinitionError;
use crate::catalog::duration;

/// Consul's default check timeout (TCP, HTTP, gRPC, H2PING, UDP).
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// Consul gives a script 30 s unless the check says otherwise.
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// TLS settings of a check that speaks TLS (`TLSSkipVerify`, `TLSServerName`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckTls {
    /// Accept any certificate (Consul's `TLSSkipVerify`).
    pub skip_verify: bool,
    /// The name sent as SNI and verified in the certificate; empty: the
    /// target's host.
    pub server_name: String,
}

/// What a check does, once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    Tcp {
        address: String,
        interval: Duration,
        timeout: Duration,
    },
    Http {
        url: String,
        method: String,
        header: BTreeMap<String, Vec<String>>,
        body: String,
        /// Used when the URL (or a redirect) is https.
        tls: CheckTls,
        interval: Duration,
        timeout: Duration,
    },
    /// A program run directly (no shell): exit 0 passing, 1 warning,
    /// anything else critical.
    Script {
        args: Vec<String>,
        interval: Duration,
        timeout: Duration,
    },
    /// grpc.health.v1 `Health/Check` on `address` for `service` (empty: the
    /// whole server).
    Grpc {
        address: String,
        service: String,
        /// None: plaintext (`GRPCUseTLS` false).
        tls: Option<CheckTls>,
        interval: Duration,
        timeout: Duration,
    },
    /// An HTTP/2 PING on a fresh connection to `address`.
    H2Ping {
        address: String,
        /// None: h2c with prior knowledge (`H2PingUseTLS` false).
        tls: Option<CheckTls>,
        interval: Duration,
        timeout: Duration,
    },
    /// A datagram to `address`: an error back (ICMP port unreachable) is
    /// critical, a reply or silence until the timeout passing.
    Udp {
        address: String,
        interval: Duration,
        timeout: Duration,
    },
    Ttl {
        ttl: Duration,
    },
    Alias {
        service_id: String,
    },
}

impl CheckKind {
    /// Consul's name of the type (a health check's `Type`).
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Http { .. } => "http",
            CheckKind::Script { .. } => "script",
            CheckKind::Grpc { .. } => "grpc",
            CheckKind::H2Ping { .. } => "h2ping",
            CheckKind::Udp { .. } => "udp",
            CheckKind::Ttl { .. } => "ttl",
            CheckKind::Alias { .. } => "alias",
        }
    }

    /// How often the check runs and how long one run may take, for the
    /// types that run on an interval.
    pub fn schedule(&self) -> Option<(Duration, Duration)> {
        match self {
            CheckKind::Tcp { interval, timeout, .. }
            | CheckKind::Http { interval, timeout, .. }
            | CheckKind::Script { interval, timeout, .. }
            | CheckKind::Grpc { interval, timeout, .. }
            | CheckKind::H2Ping { interval, timeout, .. }
            | CheckKind::Udp { interval, timeout, .. } => Some((*interval, *timeout)),
            CheckKind::Ttl { .. } | CheckKind::Alias { .. } => None,
        }
    }
}

/// The agent's script settings, as Consul's `enable_script_checks` (any
/// source, the API included) and `enable_local_script_checks` (config
/// files only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptChecks {
    pub enable_script_checks: bool,
    pub enable_local_script_checks: bool,
}

/// Whether one definition may be a script check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    Allowed,
    /// Refused, with Consul's reason.
    Refused(&'static str),
}

impl ScriptChecks {
    /// For a definition from the HTTP API (Consul's "remote" source).
    pub fn for_api(self) -> Scripts {
        match self.enable_script_checks {
            true => Scripts::Allowed,
            false => Scripts::Refused(
                "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true",
            ),
        }
    }

    /// For a definition from a config file (Consul's "local" source): either
    /// setting allows it.
    pub fn for_config_files(self) -> Scripts {
        match self.enable_script_checks || self.enable_local_script_checks {
            true => Scripts::Allowed,
            false => Scripts::Refused(
                "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true",
            ),
        }
    }
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> DefinitionError {
    DefinitionError { field: field.into(), reason: reason.into() }
}

fn parse_duration(field: &str, raw: &str) -> Result<Duration, DefinitionError> {
    duration::parse(raw).ok_or_else(|| bad(field, format!("{raw:?} is not a duration (e.g. 10s, 1m)")))
}

/// `host:port` with a numeric port, as the UDP, H2PING and gRPC targets
/// are written.
fn host_port(field: &str, raw: &str) -> Result<String, DefinitionError> {
    let well_formed = raw
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && !port.is_empty() && port.parse::<u16>().is_ok());
    match well_formed {
        true => Ok(raw.to_string()),
        false => Err(bad(field, format!("{raw:?} is not host:port"))),
    }
}

/// The types a definition names, in Consul's order of precedence. A
/// Docker check is `args` run in a container: `docker_container_id` with
/// `args` is one type, not two.
fn types_given(check: &CheckDefinition) -> Vec<&'static str> {
    let docker = !check.docker_container_id.is_empty();
    [
        (!check.tcp.is_empty()).then_some("tcp"),
        (!check.http.is_empty()).then_some("http"),
        (!check.ttl.is_empty()).then_some("ttl"),
        (!check.alias_service.is_empty()).then_some("alias_service"),
        (!check.args.is_empty() && !docker).then_some("args"),
        (!check.grpc.is_empty()).then_some("grpc"),
        (!check.udp.is_empty()).then_some("udp"),
        (!check.h2ping.is_empty()).then_some("h2ping"),
        (!check.os_service.is_empty()).then_some("os_service"),
        docker.then_some("docker_container_id"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Why a type Consul has is not run here.
fn unsupported(kind: &str) -> &'static str {
    match kind {
        "os_service" => {
            "os_service checks are not supported (a script check such as [\"systemctl\", \"is-active\", \"--quiet\", NAME] does the same on Linux)"
        }
        _ => {
            "docker_container_id checks are not supported (a script check running [\"docker\", \"exec\", ID, ...] does the same)"
        }
    }
}

impl CheckDefinition {
    /// Validates and classifies the check; `field` prefixes error names.
    /// `scripts` says whether this definition may run a program.
    pub fn kind(&self, field: &str, scripts: Scripts) -> Result<CheckKind, DefinitionError> {
        let given = types_given(self);
        let kind = match given.as_slice() {
            [] => {
                return Err(bad(field, "a check needs one of args, http, tcp, udp, grpc, h2ping, ttl or alias_service"))
            }
            [one] => *one,
            many => return Err(bad(field, format!("a check takes one type, got {}", many.join(", ")))),
        };
        self.check_common(field)?;
        let checked = Checked { check: self, field };
        match kind {
            "tcp" => Ok(CheckKind::Tcp {
                address: self.tcp.clone(),
                interval: checked.interval(kind)?,
                timeout: checked.timeout(DEFAULT_CHECK_TIMEOUT)?,
            }),
            "http" => checked.http(),
            "args" => match scripts {
                Scripts::Refused(reason) => Err(bad(format!("{field}.args"), reason)),
                Scripts::Allowed => Ok(CheckKind::Script {
                    args: self.args.clone(),
                    interval: checked.interval("script")?,
                    timeout: checked.timeout(DEFAULT_SCRIPT_TIMEOUT)?,
                }),
            },
            "grpc" => checked.grpc(),
            "h2ping" => Ok(CheckKind::H2Ping {
                address: host_port(&format!("{field}.h2ping"), &self.h2ping)?,
                tls: self.h2ping_use_tls.unwrap_or(true).then(|| checked.tls()),
                interval: checked.interval(kind)?,
                timeout: checked.timeout(DEFAULT_CHECK_TIMEOUT)?,
            }),
            "udp" => Ok(CheckKind::Udp {
                address: host_port(&format!("{field}.udp"), &self.udp)?,
                interval: checked.interval(kind)?,
                timeout: checked.timeout(DEFAULT_CHECK_TIMEOUT)?,
            }),
            "ttl" => Ok(CheckKind::Ttl { ttl: parse_duration(&format!("{field}.ttl"), &self.ttl)? }),
            "alias_service" => Ok(CheckKind::Alias { service_id: self.alias_service.clone() }),
            other => Err(bad(format!("{field}.{other}"), unsupported(other))),
        }
    }

    /// What every type shares: Enterprise fields and the initial status.
    fn check_common(&self, field: &str) -> Result<(), DefinitionError> {
        crate::catalog::definition::only_default(&format!("{field}.namespace"), &self.namespace)?;
        crate::catalog::definition::only_default(&format!("{field}.partition"), &self.partition)?;
        if !self.status.is_empty() && crate::catalog::CheckStatus::parse(&self.status).is_none() {
            return Err(bad(
                format!("{field}.status"),
                format!("{:?} is not passing, warning or critical", self.status),
            ));
        }
        Ok(())
    }
}

/// A definition being classified, with the field its errors name.
struct Checked<'a> {
    check: &'a CheckDefinition,
    field: &'a str,
}

impl Checked<'_> {
    fn interval(&self, kind: &str) -> Result<Duration, DefinitionError> {
        let name = format!("{}.interval", self.field);
        match self.check.interval.as_str() {
            "" => Err(bad(name, format!("required for {kind} checks"))),
            raw => match parse_duration(&name, raw)? {
                d if d < Duration::from_millis(100) => Err(bad(name, "must be at least 100ms")),
                d => Ok(d),
            },
        }
    }

    fn timeout(&self, default: Duration) -> Result<Duration, DefinitionError> {
        match self.check.timeout.as_str() {
            "" => Ok(default),
            raw => parse_duration(&format!("{}.timeout", self.field), raw),
        }
    }

    fn tls(&self) -> CheckTls {
        CheckTls { skip_verify: self.check.tls_skip_verify, server_name: self.check.tls_server_name.clone() }
    }

    fn http(&self) -> Result<CheckKind, DefinitionError> {
        // The URL is not checked here: as in Consul, one that cannot be
        // requested makes the check critical with the reason.
        let check = self.check;
        Ok(CheckKind::Http {
            url: check.http.clone(),
            method: if check.method.is_empty() { "GET".into() } else { check.method.to_uppercase() },
            header: check.header.clone(),
            body: check.body.clone(),
            tls: self.tls(),
            interval: self.interval("http")?,
            timeout: self.timeout(DEFAULT_CHECK_TIMEOUT)?,
        })
    }

    /// `host:port` or `host:port/service`, as Consul splits it (at the
    /// first `/`).
    fn grpc(&self) -> Result<CheckKind, DefinitionError> {
        let (address, service) = self.check.grpc.split_once('/').unwrap_or((&self.check.grpc, ""));
        let field = format!("{}.grpc", self.field);
        host_port(&field, address)
            .map_err(|_| bad(&field, format!("{:?} is not host:port or host:port/service", self.check.grpc)))?;
        Ok(CheckKind::Grpc {
            address: address.to_string(),
            service: service.to_string(),
            tls: self.check.grpc_use_tls.then(|| self.tls()),
            interval: self.interval("grpc")?,
            timeout: self.timeout(DEFAULT_CHECK_TIMEOUT)?,
        })
    }
}

#[cfg(test)]
mod tests;
