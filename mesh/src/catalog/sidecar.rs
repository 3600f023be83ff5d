//! `connect.sidecar_service` expansion, as Consul's agent does it: the block
//! becomes a second service, `<id>-sidecar-proxy`, of kind connect-proxy,
//! on the lowest free port of the sidecar range, with a listening check and
//! an alias of the parent's health unless checks are given.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use crate::catalog::definition::CheckDefinition;
use crate::catalog::definition::DefinitionError;
use crate::catalog::definition::ProxyDefinition;
use crate::catalog::definition::ServiceDefinition;

pub const DEFAULT_PORT_RANGE: RangeInclusive<u16> = 21000..=21255;

pub fn sidecar_id(parent_id: &str) -> String {
    format!("{parent_id}-sidecar-proxy")
}

/// Ports the expansion may take: a port the sidecar had before (kept across
/// reloads), or the lowest one in `range` that no other service uses.
pub struct PortChoice<'a> {
    pub previous: Option<u16>,
    pub in_use: &'a BTreeSet<u16>,
    pub range: RangeInclusive<u16>,
}

impl PortChoice<'_> {
    fn pick(&self) -> Result<u16, DefinitionError> {
        if let Some(port) = self.previous {
            return Ok(port);
        }
        self.range.clone().find(|p| !self.in_use.contains(p)).ok_or_else(|| DefinitionError {
            field: "connect.sidecar_service.port".into(),
            reason: format!("no free port left in the sidecar range {}-{}", self.range.start(), self.range.end()),
        })
    }
}

/// The sidecar registration for `parent`, or None if it asks for none.
pub fn expand(
    parent: &ServiceDefinition,
    ports: &PortChoice<'_>,
) -> Result<Option<ServiceDefinition>, DefinitionError> {
    let Some(block) = parent.connect.as_ref().and_then(|c| c.sidecar_service.as_deref()) else {
        return Ok(None);
    };
    let parent_id = parent.effective_id();
    let mut sidecar = block.clone();
    sidecar.id = Some(sidecar_id(&parent_id));
    if sidecar.name.is_empty() {
        sidecar.name = format!("{}-sidecar-proxy", parent.name);
    }
    sidecar.kind = "connect-proxy".into();
    if sidecar.port == 0 {
        sidecar.port = ports.pick()?;
    }
    if sidecar.address.is_empty() {
        sidecar.address = parent.address.clone();
    }
    if sidecar.tags.is_empty() {
        sidecar.tags = parent.tags.clone();
    }
    if sidecar.meta.is_empty() {
        sidecar.meta = parent.meta.clone();
    }
    let proxy = sidecar.proxy.get_or_insert_with(ProxyDefinition::default);
    proxy.destination_service_name = parent.name.clone();
    proxy.destination_service_id = parent_id.clone();
    if proxy.local_service_address.is_empty() {
        proxy.local_service_address = "127.0.0.1".into();
    }
    if proxy.local_service_port == 0 {
        proxy.local_service_port = parent.port;
    }
    if sidecar.check.is_none() && sidecar.checks.is_empty() {
        let listen_host =
            if sidecar.address.is_empty() { proxy.local_service_address.clone() } else { sidecar.address.clone() };
        sidecar.checks = default_checks(&parent_id, &listen_host, sidecar.port);
    }
    Ok(Some(sidecar))
}

fn default_checks(parent_id: &str, host: &str, port: u16) -> Vec<CheckDefinition> {
    vec![
        CheckDefinition {
            name: "Connect Sidecar Listening".into(),
            tcp: format!("{host}:{port}"),
            interval: "10s".into(),
            ..CheckDefinition::default()
        },
        CheckDefinition {
            name: format!("Connect Sidecar Aliasing {parent_id}"),
            alias_service: parent_id.to_string(),
            ..CheckDefinition::default()
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(json: &str) -> ServiceDefinition {
        serde_json::from_str(json).unwrap()
    }

    fn ports(in_use: &BTreeSet<u16>, previous: Option<u16>) -> PortChoice<'_> {
        PortChoice { previous, in_use, range: DEFAULT_PORT_RANGE }
    }

    #[test]
    fn the_walkthrough_socat_block_expands_like_consul() {
        let socat = parent(r#"{"name":"socat","port":8181,"connect":{"sidecar_service":{}}}"#);
        let sidecar = expand(&socat, &ports(&BTreeSet::new(), None)).unwrap().unwrap();
        assert_eq!(sidecar.id.as_deref(), Some("socat-sidecar-proxy"));
        assert_eq!(sidecar.name, "socat-sidecar-proxy");
        assert_eq!(sidecar.kind, "connect-proxy");
        assert_eq!(sidecar.port, 21000);
        let proxy = sidecar.proxy.as_ref().unwrap();
        assert_eq!(
            (proxy.destination_service_name.as_str(), proxy.destination_service_id.as_str()),
            ("socat", "socat")
        );
        assert_eq!((proxy.local_service_address.as_str(), proxy.local_service_port), ("127.0.0.1", 8181));
        assert_eq!(sidecar.checks[0].tcp, "127.0.0.1:21000");
        assert_eq!(sidecar.checks[1].alias_service, "socat");
        sidecar.validate(crate::catalog::definition::Scripts::Allowed).unwrap();
    }

    #[test]
    fn ports_are_the_lowest_free_or_the_previous_one() {
        let web = parent(r#"{"name":"web","port":8080,"connect":{"sidecar_service":{}}}"#);
        let used = BTreeSet::from([21000, 21001]);
        assert_eq!(expand(&web, &ports(&used, None)).unwrap().unwrap().port, 21002);
        assert_eq!(expand(&web, &ports(&used, Some(21007))).unwrap().unwrap().port, 21007);
        let full: BTreeSet<u16> = DEFAULT_PORT_RANGE.collect();
        assert!(expand(&web, &ports(&full, None)).unwrap_err().reason.contains("no free port"));
    }

    #[test]
    fn given_values_win_and_upstreams_are_kept() {
        let web = parent(
            r#"{"name":"web","port":8080,"tags":["t"],"connect":{"sidecar_service":{"port":22000,
                "proxy":{"upstreams":[{"destination_name":"socat","local_bind_port":9191}]}}}}"#,
        );
        let sidecar = expand(&web, &ports(&BTreeSet::new(), None)).unwrap().unwrap();
        assert_eq!(sidecar.port, 22000);
        assert_eq!(sidecar.tags, vec!["t"]);
        assert_eq!(sidecar.proxy.unwrap().upstreams[0].destination_name, "socat");
    }

    #[test]
    fn no_block_no_sidecar() {
        let plain = parent(r#"{"name":"db","port":5432}"#);
        assert!(expand(&plain, &ports(&BTreeSet::new(), None)).unwrap().is_none());
    }
}
