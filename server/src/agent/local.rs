//! The agent's own services and checks: what it registered from config
//! files and through its API, with each check's latest result. Every change
//! is validated as a whole before it replaces the current state, so a bad
//! definition leaves everything as it was.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Instant;

use tessera_mesh::catalog::definition::CheckKind;
use tessera_mesh::catalog::definition::ScriptChecks;
use tessera_mesh::catalog::definition::Scripts;
use tessera_mesh::catalog::sidecar;
use tessera_mesh::catalog::CheckDefinition;
use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::DefinitionError;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Service;
use tessera_mesh::catalog::ServiceDefinition;
use tessera_mesh::catalog::ServiceKind;

/// Where a registration came from: config files are reconciled on reload;
/// API registrations persist in the data dir until deregistered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Config,
    Api,
}

#[derive(Debug, Clone)]
pub struct LocalService {
    pub service: Service,
    pub source: Source,
    /// The definition as given (for the parent: with its sidecar block).
    pub definition: ServiceDefinition,
    /// Set on a sidecar: the id of the service it was expanded from.
    pub sidecar_of: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LocalCheck {
    pub check: HealthCheck,
    pub kind: CheckKind,
    pub source: Source,
    pub definition: CheckDefinition,
    /// Defined inside its service's definition (and so saved with it).
    pub inline: bool,
    /// Since when it has been critical, for `deregister_critical_service_after`.
    pub critical_since: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct LocalState {
    pub node: String,
    pub services: BTreeMap<String, LocalService>,
    pub checks: BTreeMap<String, LocalCheck>,
    pub sidecar_ports: std::ops::RangeInclusive<u16>,
    /// Which sources may define script checks.
    pub script_checks: ScriptChecks,
}

impl LocalState {
    pub fn new(node: &str, script_checks: ScriptChecks) -> Self {
        LocalState {
            node: node.to_string(),
            services: BTreeMap::new(),
            checks: BTreeMap::new(),
            sidecar_ports: sidecar::DEFAULT_PORT_RANGE,
            script_checks,
        }
    }

    /// Whether a definition from `source` may be a script check, as Consul
    /// decides it for config files (local) and the API (remote).
    fn scripts(&self, source: Source) -> Scripts {
        match source {
            Source::Config => self.script_checks.for_config_files(),
            Source::Api => self.script_checks.for_api(),
        }
    }

    /// Registers a service (and its sidecar and checks), replacing one with
    /// the same id.
    pub fn add_service(&mut self, definition: &ServiceDefinition, source: Source) -> Result<(), DefinitionError> {
        definition.validate(self.scripts(source))?;
        let id = definition.effective_id();
        let previous_sidecar_port = self.services.get(&sidecar::sidecar_id(&id)).map(|s| s.service.port);
        self.remove_service(&id);
        let in_use: BTreeSet<u16> = self
            .services
            .values()
            .filter(|s| s.service.kind == ServiceKind::ConnectProxy)
            .map(|s| s.service.port)
            .collect();
        let choice =
            sidecar::PortChoice { previous: previous_sidecar_port, in_use: &in_use, range: self.sidecar_ports.clone() };
        let expanded = sidecar::expand(definition, &choice)?;
        self.insert(definition, source, None)?;
        if let Some(sidecar_def) = expanded {
            self.insert(&sidecar_def, source, Some(id))?;
        }
        Ok(())
    }

    fn insert(
        &mut self,
        definition: &ServiceDefinition,
        source: Source,
        sidecar_of: Option<String>,
    ) -> Result<(), DefinitionError> {
        let service = definition.to_service();
        let checks: Vec<&CheckDefinition> = definition.all_checks().collect();
        for (i, check) in checks.iter().enumerate() {
            let generated = match checks.len() {
                1 => format!("service:{}", service.id),
                _ => format!("service:{}:{}", service.id, i + 1),
            };
            let mut check = (*check).clone();
            check.service_id = service.id.clone();
            if check.id.as_deref().is_none_or(str::is_empty) {
                check.id = Some(generated);
            }
            if check.name.is_empty() {
                check.name = format!("Service '{}' check", service.name);
            }
            self.add_check_for(&check, source, Some(&service), true)?;
        }
        let entry = LocalService { service, source, definition: definition.clone(), sidecar_of };
        self.services.insert(entry.service.id.clone(), entry);
        Ok(())
    }

    /// Registers a check; a service check needs its service registered.
    pub fn add_check(&mut self, definition: &CheckDefinition, source: Source) -> Result<String, DefinitionError> {
        let service = match definition.service_id.as_str() {
            "" => None,
            id => Some(self.services.get(id).map(|s| s.service.clone()).ok_or_else(|| DefinitionError {
                field: "service_id".into(),
                reason: format!("service {id:?} is not registered on this agent"),
            })?),
        };
        self.add_check_for(definition, source, service.as_ref(), false)
    }

    fn add_check_for(
        &mut self,
        definition: &CheckDefinition,
        source: Source,
        service: Option<&Service>,
        inline: bool,
    ) -> Result<String, DefinitionError> {
        if definition.name.is_empty() && definition.id.as_deref().is_none_or(str::is_empty) {
            return Err(DefinitionError { field: "name".into(), reason: "a check needs a name or an id".into() });
        }
        let kind = definition.kind("check", self.scripts(source))?;
        let id = definition.id.clone().filter(|i| !i.is_empty()).unwrap_or_else(|| definition.name.clone());
        let initial = CheckStatus::parse(&definition.status).unwrap_or_default();
        let kept = self
            .checks
            .get(&id)
            .filter(|c| c.definition == *definition)
            .map(|c| (c.check.status, c.check.output.clone()));
        let (status, output) = kept.unwrap_or((initial, String::new()));
        let format = tessera_mesh::catalog::duration::format;
        let (interval, timeout) =
            kind.schedule().map(|(interval, timeout)| (format(interval), format(timeout))).unwrap_or_default();
        let check = HealthCheck {
            node: self.node.clone(),
            check_id: id.clone(),
            name: if definition.name.is_empty() { id.clone() } else { definition.name.clone() },
            status,
            notes: definition.notes.clone(),
            output,
            service_id: service.map(|s| s.id.clone()).unwrap_or_default(),
            service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
            service_tags: service.map(|s| s.tags.clone()).unwrap_or_default(),
            kind: kind.name().to_string(),
            interval,
            timeout,
        };
        let critical_since = match (status, self.checks.get(&id)) {
            (CheckStatus::Critical, Some(old)) if old.check.status == CheckStatus::Critical => old.critical_since,
            (CheckStatus::Critical, _) => Some(Instant::now()),
            _ => None,
        };
        let local = LocalCheck { check, kind, source, definition: definition.clone(), inline, critical_since };
        self.checks.insert(id.clone(), local);
        Ok(id)
    }

    /// Removes a service with its checks and its sidecar. True if it existed.
    pub fn remove_service(&mut self, id: &str) -> bool {
        if self.services.remove(id).is_none() {
            return false;
        }
        self.checks.retain(|_, c| c.check.service_id != id);
        let sidecars: Vec<String> = self
            .services
            .values()
            .filter(|s| s.sidecar_of.as_deref() == Some(id))
            .map(|s| s.service.id.clone())
            .collect();
        for sidecar in sidecars {
            self.remove_service(&sidecar);
        }
        true
    }

    pub fn remove_check(&mut self, id: &str) -> bool {
        self.checks.remove(id).is_some()
    }

    /// Makes the config-sourced registrations exactly `services` and
    /// `checks`. All or nothing: on error the state is unchanged.
    pub fn reconcile_config(
        &mut self,
        services: &[ServiceDefinition],
        checks: &[CheckDefinition],
    ) -> Result<(), DefinitionError> {
        let mut next = self.clone();
        let from_config: Vec<String> = next
            .services
            .values()
            .filter(|s| s.source == Source::Config && s.sidecar_of.is_none())
            .map(|s| s.service.id.clone())
            .collect();
        let wanted: BTreeSet<String> = services.iter().map(ServiceDefinition::effective_id).collect();
        for id in from_config.iter().filter(|id| !wanted.contains(*id)) {
            next.remove_service(id);
        }
        let wanted_checks: BTreeSet<String> =
            checks.iter().map(|c| c.id.clone().filter(|i| !i.is_empty()).unwrap_or_else(|| c.name.clone())).collect();
        next.checks.retain(|id, c| c.source != Source::Config || c.inline || wanted_checks.contains(id));
        for definition in services {
            let unchanged = next
                .services
                .get(&definition.effective_id())
                .is_some_and(|s| s.definition == *definition && s.source == Source::Config);
            if !unchanged {
                next.add_service(definition, Source::Config)?;
            }
        }
        for definition in checks {
            next.add_check(definition, Source::Config)?;
        }
        *self = next;
        Ok(())
    }

    /// Records a check result; true if the status or output changed.
    pub fn set_check_status(&mut self, id: &str, status: CheckStatus, output: &str) -> bool {
        let Some(check) = self.checks.get_mut(id) else { return false };
        if check.check.status == status && check.check.output == output {
            return false;
        }
        check.critical_since = match status {
            CheckStatus::Critical => check.critical_since.or_else(|| Some(Instant::now())),
            _ => None,
        };
        check.check.status = status;
        check.check.output = output.to_string();
        true
    }

    /// The services whose checks have been critical for longer than their
    /// `deregister_critical_service_after`, as of `now`.
    pub fn critical_too_long(&self, now: Instant) -> Vec<String> {
        let mut services: Vec<String> = self
            .checks
            .values()
            .filter(|c| !c.check.service_id.is_empty())
            .filter_map(|c| {
                let after = tessera_mesh::catalog::duration::parse(&c.definition.deregister_critical_service_after)?;
                let since = c.critical_since?;
                (now.saturating_duration_since(since) >= after).then(|| c.check.service_id.clone())
            })
            .collect();
        services.sort();
        services.dedup();
        services
    }

    /// The worst status of a service's checks other than aliases (an alias
    /// check mirrors this), or critical when the service is not registered.
    pub fn aliased_status(&self, service_id: &str) -> (CheckStatus, String) {
        if !self.services.contains_key(service_id) {
            return (CheckStatus::Critical, format!("Service {service_id} could not be found on node {}", self.node));
        }
        let worst = self
            .checks
            .values()
            .filter(|c| c.check.service_id == service_id && !matches!(c.kind, CheckKind::Alias { .. }))
            .map(|c| c.check.status)
            .max()
            .unwrap_or(CheckStatus::Passing);
        (worst, format!("All checks of {service_id} are {}", worst.as_str()))
    }

    /// Brings every alias check in line with what it mirrors; true if any changed.
    pub fn refresh_aliases(&mut self) -> bool {
        let updates: Vec<(String, CheckStatus, String)> = self
            .checks
            .values()
            .filter_map(|c| match &c.kind {
                CheckKind::Alias { service_id } => {
                    let (status, output) = self.aliased_status(service_id);
                    Some((c.check.check_id.clone(), status, output))
                }
                _ => None,
            })
            .collect();
        let mut changed = false;
        for (id, status, output) in updates {
            changed |= self.set_check_status(&id, status, &output);
        }
        changed
    }

    pub fn services(&self) -> Vec<Service> {
        self.services.values().map(|s| s.service.clone()).collect()
    }

    pub fn health_checks(&self) -> Vec<HealthCheck> {
        self.checks.values().map(|c| c.check.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(json: &str) -> ServiceDefinition {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_sidecar_block_registers_two_services_with_consuls_checks() {
        let mut state = LocalState::new("n1", ScriptChecks::default());
        state
            .add_service(&def(r#"{"name":"socat","port":8181,"connect":{"sidecar_service":{}}}"#), Source::Config)
            .unwrap();
        assert_eq!(state.services.keys().collect::<Vec<_>>(), vec!["socat", "socat-sidecar-proxy"]);
        let ids: Vec<&String> = state.checks.keys().collect();
        assert_eq!(ids, vec!["service:socat-sidecar-proxy:1", "service:socat-sidecar-proxy:2"]);
        assert_eq!(state.checks["service:socat-sidecar-proxy:1"].check.status, CheckStatus::Critical);
        assert!(state.remove_service("socat"));
        assert!(state.services.is_empty() && state.checks.is_empty());
    }

    #[test]
    fn sidecar_ports_are_kept_across_re_registration() {
        let mut state = LocalState::new("n1", ScriptChecks::default());
        state.add_service(&def(r#"{"name":"a","connect":{"sidecar_service":{}}}"#), Source::Config).unwrap();
        state.add_service(&def(r#"{"name":"b","connect":{"sidecar_service":{}}}"#), Source::Config).unwrap();
        state.add_service(&def(r#"{"name":"a","port":1,"connect":{"sidecar_service":{}}}"#), Source::Config).unwrap();
        assert_eq!(state.services["a-sidecar-proxy"].service.port, 21000);
        assert_eq!(state.services["b-sidecar-proxy"].service.port, 21001);
    }

    #[test]
    fn reconcile_adds_changes_removes_and_is_all_or_nothing() {
        let mut state = LocalState::new("n1", ScriptChecks::default());
        state.add_service(&def(r#"{"name":"api-made"}"#), Source::Api).unwrap();
        state.reconcile_config(&[def(r#"{"name":"a"}"#), def(r#"{"name":"b"}"#)], &[]).unwrap();
        state.reconcile_config(&[def(r#"{"name":"b","port":2}"#)], &[]).unwrap();
        assert_eq!(state.services.keys().collect::<Vec<_>>(), vec!["api-made", "b"]);
        assert_eq!(state.services["b"].service.port, 2);

        let broken = def(r#"{"name":"c","check":{"tcp":"x:1"}}"#);
        let err = state.reconcile_config(&[broken], &[]).unwrap_err();
        assert_eq!(err.field, "checks[0].interval");
        assert_eq!(
            state.services.keys().collect::<Vec<_>>(),
            vec!["api-made", "b"],
            "unchanged after a refused reconcile"
        );
    }

    #[test]
    fn unchanged_checks_keep_their_status_through_a_reload() {
        let mut state = LocalState::new("n1", ScriptChecks::default());
        let web = def(r#"{"name":"web","check":{"ttl":"30s"}}"#);
        state.reconcile_config(std::slice::from_ref(&web), &[]).unwrap();
        assert!(state.set_check_status("service:web", CheckStatus::Passing, "ok"));
        state.reconcile_config(&[web], &[]).unwrap();
        assert_eq!(state.checks["service:web"].check.status, CheckStatus::Passing);
    }

    #[test]
    fn standalone_config_checks_keep_status_or_go_away() {
        let mut state = LocalState::new("n1", ScriptChecks::default());
        let check: CheckDefinition = serde_json::from_str(r#"{"name":"mem","ttl":"30s"}"#).unwrap();
        state.reconcile_config(&[], std::slice::from_ref(&check)).unwrap();
        state.set_check_status("mem", CheckStatus::Warning, "high");
        state.reconcile_config(&[], std::slice::from_ref(&check)).unwrap();
        assert_eq!(state.checks["mem"].check.status, CheckStatus::Warning);
        state.reconcile_config(&[], &[]).unwrap();
        assert!(state.checks.is_empty());
    }

    #[test]
    fn alias_checks_mirror_the_worst_status_of_their_service() {
        let mut state = LocalState::new("n1", ScriptChecks::default());
        state
            .add_service(
                &def(r#"{"name":"s","port":1,"check":{"ttl":"30s"},"connect":{"sidecar_service":{}}}"#),
                Source::Config,
            )
            .unwrap();
        state.refresh_aliases();
        assert_eq!(state.checks["service:s-sidecar-proxy:2"].check.status, CheckStatus::Critical);
        state.set_check_status("service:s", CheckStatus::Passing, "");
        assert!(state.refresh_aliases());
        assert_eq!(state.checks["service:s-sidecar-proxy:2"].check.status, CheckStatus::Passing);
    }

    #[test]
    fn script_checks_over_the_api_need_enable_script_checks() {
        let script: CheckDefinition =
            serde_json::from_str(r#"{"name":"s","args":["/bin/true"],"interval":"5s"}"#).unwrap();
        let local_only = ScriptChecks { enable_local_script_checks: true, ..Default::default() };
        let mut state = LocalState::new("n1", local_only);
        let err = state.add_check(&script, Source::Api).unwrap_err();
        assert_eq!(err.field, "check.args");
        assert!(err.reason.contains("from remote calls"), "{err}");
        assert_eq!(state.add_check(&script, Source::Config).unwrap(), "s");
        let mut open = LocalState::new("n1", ScriptChecks { enable_script_checks: true, ..Default::default() });
        assert_eq!(open.add_check(&script, Source::Api).unwrap(), "s");
        assert_eq!(open.checks["s"].check.interval, "5s");
    }

    #[test]
    fn a_check_for_an_unknown_service_is_refused() {
        let mut state = LocalState::new("n1", ScriptChecks::default());
        let check: CheckDefinition = serde_json::from_str(r#"{"name":"c","ttl":"10s","service_id":"ghost"}"#).unwrap();
        assert_eq!(state.add_check(&check, Source::Api).unwrap_err().field, "service_id");
    }
}
