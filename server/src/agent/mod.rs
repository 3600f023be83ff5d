//! The agent side of every Tessera process: the services and checks of this
//! host ([`local`]), loaded from config files ([`config_files`]) or
//! registered through the API ([`persist`] keeps those), checked by
//! [`checks`] runners, and pushed to the catalog by anti-entropy ([`sync`]).

pub mod checks;
pub mod config_files;
pub mod connect;
pub mod local;
pub mod persist;
pub mod sync;

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::Weak;

use tessera_mesh::catalog::definition::ScriptChecks;
use tessera_mesh::catalog::model::serf_health;
use tessera_mesh::catalog::CheckDefinition;
use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_mesh::catalog::ServiceDefinition;
use tokio::sync::Notify;

use crate::agent::checks::Runner;
use crate::agent::config_files::Sources;
use crate::agent::local::LocalState;
use crate::agent::local::Source;
use crate::config::AgentConfig;
use crate::metrics::Metrics;
use crate::tasks::Tasks;
use tessera_store::command::Command;

/// Where the agent's catalog writes go: the local server in -dev and on
/// servers; the servers over gRPC on client agents.
pub trait CatalogSink: Send + Sync + 'static {
    fn write(&self, command: Command) -> futures::future::BoxFuture<'_, Result<(), String>>;
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
}

/// Consul's maintenance check ids.
pub const NODE_MAINTENANCE: &str = "_node_maintenance";
pub const SERVICE_MAINTENANCE_PREFIX: &str = "_service_maintenance:";

pub struct Agent {
    node: Node,
    sources: Sources,
    persist_path: Option<PathBuf>,
    /// Services this process always registers (a server's `consul`).
    builtin_services: Vec<Service>,
    /// Which sources may define script checks.
    script_checks: ScriptChecks,
    state: Mutex<LocalState>,
    runners: Mutex<BTreeMap<String, Runner>>,
    /// Wakes anti-entropy; a permit is kept if it is busy.
    changed: Notify,
    sink: Box<dyn CatalogSink>,
    connect: Arc<connect::AgentConnect>,
    /// Where check runners run.
    tasks: Tasks,
    /// This agent's series (the process's: a server's agent shares its server's).
    metrics: Arc<Metrics>,
    rpc_tls: Option<Arc<crate::transport::tls::RpcTls>>,
    listener_tls: Vec<Arc<crate::transport::listener_tls::ListenerTls>>,
    /// Maintenance mode: the critical checks Consul adds for the node
    /// (`_node_maintenance`) or a service (`_service_maintenance:<id>`),
    /// by check id. Kept apart from the definitions: no runner, no file.
    maintenance: Mutex<BTreeMap<String, HealthCheck>>,
    /// Resolves the tokens requests present (the server's store, or a
    /// server asked by a client agent).
    acl: Arc<dyn crate::acl::resolver::TokenResolver>,
    me: Weak<Agent>,
}

pub struct AgentSetup {
    pub node: Node,
    pub sources: Sources,
    pub persist_path: Option<PathBuf>,
    pub builtin_services: Vec<Service>,
    pub sink: Box<dyn CatalogSink>,
    pub connect: Arc<connect::AgentConnect>,
    pub tasks: Tasks,
    pub script_checks: ScriptChecks,
    pub metrics: Arc<Metrics>,
    /// The server port's TLS, re-read on reload (None: plaintext).
    pub rpc_tls: Option<Arc<crate::transport::tls::RpcTls>>,
    /// The HTTPS and gRPC TLS listeners' TLS, re-read on reload too.
    pub listener_tls: Vec<Arc<crate::transport::listener_tls::ListenerTls>>,
    /// Disabled or fail-closed from the config; each mode sets its own.
    pub acl: Arc<dyn crate::acl::resolver::TokenResolver>,
}

impl AgentSetup {
    /// What servers and client agents alike take from the agent config: the
    /// node `name`/`id` at the bind address, the config sources, registrations
    /// persisted under `data_dir`, and Connect state whose leaves `signer`
    /// signs; it records into `metrics`. No built-in services.
    pub fn from_config(
        config: &AgentConfig,
        (name, id): (&str, &str),
        data_dir: &Path,
        sink: Box<dyn CatalogSink>,
        signer: Arc<dyn connect::LeafSigner>,
        tasks: &Tasks,
        metrics: &Arc<Metrics>,
    ) -> AgentSetup {
        let node = Node {
            name: name.to_string(),
            id: id.to_string(),
            address: config.bind_addr.to_string(),
            datacenter: config.datacenter.clone(),
            meta: config.node_meta.clone(),
        };
        let policy = config.default_intention_policy;
        AgentSetup {
            node,
            sources: Sources { config_dirs: config.config_dirs.clone(), config_files: config.config_files.clone() },
            persist_path: Some(persist::path_in(data_dir)),
            builtin_services: Vec::new(),
            sink,
            connect: connect::AgentConnect::new(
                &config.datacenter,
                policy,
                signer,
                tasks.clone(),
                config.leaf_cache,
                metrics.leaf.managers(),
            ),
            tasks: tasks.clone(),
            script_checks: config.script_checks,
            metrics: metrics.clone(),
            rpc_tls: None,
            listener_tls: Vec::new(),
            acl: crate::acl::resolver::initial(&config.acl),
        }
    }
}

impl Agent {
    /// Loads persisted API registrations and the config files. A bad config
    /// file fails the start, as it fails a reload.
    pub fn start(setup: AgentSetup) -> Result<Arc<Agent>, AgentError> {
        let agent = Arc::new_cyclic(|me| Agent {
            state: Mutex::new(LocalState::new(&setup.node.name, setup.script_checks)),
            script_checks: setup.script_checks,
            node: setup.node,
            sources: setup.sources,
            persist_path: setup.persist_path,
            builtin_services: setup.builtin_services,
            runners: Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
            sink: setup.sink,
            connect: setup.connect,
            tasks: setup.tasks,
            metrics: setup.metrics,
            rpc_tls: setup.rpc_tls,
            listener_tls: setup.listener_tls,
            maintenance: Mutex::new(BTreeMap::new()),
            acl: setup.acl,
            me: me.clone(),
        });
        agent.restore_registrations();
        agent.reload()?;
        Ok(agent)
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The series this agent records into and `/v1/agent/metrics` shows.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Counts a check runner's result by the check's type (the runners
    /// call this once per result they report).
    pub fn count_check_run(&self, id: &str, status: CheckStatus) {
        let kind = self.runners.lock().expect("runners lock").get(id).map_or("unknown", |r| r.kind.name());
        self.metrics.checks.ran(kind, status.as_str());
    }

    /// Roots, intentions and leaf certificates as this agent holds them.
    /// Cancelled when the agent process stops.
    pub fn shutdown(&self) -> &tokio_util::sync::CancellationToken {
        self.tasks.shutdown()
    }

    pub fn acl(&self) -> &Arc<dyn crate::acl::resolver::TokenResolver> {
        &self.acl
    }

    pub fn connect(&self) -> &Arc<connect::AgentConnect> {
        &self.connect
    }

    fn restore_registrations(&self) {
        let Some(path) = &self.persist_path else { return };
        let saved = match persist::load(path) {
            Ok(saved) => saved,
            Err(e) => return tracing::error!(error = %e, "cannot read saved registrations; starting without them"),
        };
        let mut state = self.state.lock().expect("agent state lock");
        for service in &saved.services {
            if let Err(e) = state.add_service(service, Source::Api) {
                tracing::error!(service = %service.name, error = %e, "dropping a saved registration");
            }
        }
        for check in &saved.checks {
            if let Err(e) = state.add_check(check, Source::Api) {
                tracing::error!(check = %check.name, error = %e, "dropping a saved check");
            }
        }
    }

    /// Re-reads the certificates of the server port and of the HTTPS and
    /// gRPC TLS listeners (new handshakes use them; open connections carry
    /// on), then the service and check definitions, and reconciles. A bad
    /// file refuses the rest of the reload; a listener whose files failed
    /// keeps its old certificate.
    pub fn reload(&self) -> Result<(), AgentError> {
        if let Some(tls) = &self.rpc_tls {
            tls.reload().map_err(|e| AgentError::Invalid(format!("TLS for the server port: {e}")))?;
        }
        for tls in &self.listener_tls {
            tls.reload().map_err(|e| AgentError::Invalid(format!("TLS for {}: {e}", tls.what())))?;
        }
        let definitions = self.sources.load(self.script_checks).map_err(|e| AgentError::Invalid(e.to_string()))?;
        let services: Vec<ServiceDefinition> = definitions.services.into_iter().map(|(_, s)| s).collect();
        let checks: Vec<CheckDefinition> = definitions.checks.into_iter().map(|(_, c)| c).collect();
        self.update(|state| {
            state.reconcile_config(&services, &checks).map_err(|e| AgentError::Invalid(e.to_string()))
        })?;
        tracing::info!(services = services.len(), checks = checks.len(), "loaded service definitions");
        Ok(())
    }

    pub fn register_service(&self, definition: &ServiceDefinition) -> Result<(), AgentError> {
        self.update(|state| {
            state.add_service(definition, Source::Api).map_err(|e| AgentError::Invalid(e.to_string()))
        })?;
        self.persist(|dir| persist::save_service(dir, definition));
        Ok(())
    }

    pub fn deregister_service(&self, id: &str) -> Result<(), AgentError> {
        self.update(|state| match state.remove_service(id) {
            true => Ok(()),
            false => Err(AgentError::NotFound(format!(
                "Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name."
            ))),
        })?;
        self.persist(|dir| persist::remove_service(dir, id));
        self.set_maintenance(format!("{SERVICE_MAINTENANCE_PREFIX}{id}"), None);
        Ok(())
    }

    pub fn register_check(&self, definition: &CheckDefinition) -> Result<(), AgentError> {
        let id = self
            .update(|state| state.add_check(definition, Source::Api).map_err(|e| AgentError::Invalid(e.to_string())))?;
        self.persist(|dir| persist::save_check(dir, &id, definition));
        Ok(())
    }

    pub fn deregister_check(&self, id: &str) -> Result<(), AgentError> {
        self.update(|state| match state.remove_check(id) {
            true => Ok(()),
            false => Err(AgentError::NotFound(format!("Unknown check ID {id:?}"))),
        })?;
        self.persist(|dir| persist::remove_check(dir, id));
        Ok(())
    }

    /// `/v1/agent/check/pass|warn|fail`: only for TTL checks; resets the timer.
    pub fn update_ttl(&self, id: &str, status: CheckStatus, note: &str) -> Result<(), AgentError> {
        let reset = {
            let runners = self.runners.lock().expect("runners lock");
            runners.get(id).and_then(|r| r.ttl_reset.clone())
        };
        let Some(reset) = reset else {
            let known = self.state.lock().expect("agent state lock").checks.contains_key(id);
            return Err(match known {
                true => AgentError::Invalid(format!("Check {id:?} is not a TTL check")),
                false => AgentError::NotFound(format!("Unknown check ID {id:?}")),
            });
        };
        reset.notify_one();
        self.record_check(id, status, note);
        Ok(())
    }

    /// A check result from a runner or the TTL API.
    pub fn record_check(&self, id: &str, status: CheckStatus, output: &str) {
        let changed = {
            let mut state = self.state.lock().expect("agent state lock");
            let changed = state.set_check_status(id, status, output);
            if changed {
                state.refresh_aliases();
            }
            changed
        };
        if changed {
            tracing::debug!(check = id, status = status.as_str(), "check status changed");
            self.changed.notify_one();
        }
    }

    /// Applies `change` to the local state, then brings runners, aliases
    /// and the catalog in line with it.
    fn update<T>(&self, change: impl FnOnce(&mut LocalState) -> Result<T, AgentError>) -> Result<T, AgentError> {
        let outcome = {
            let mut state = self.state.lock().expect("agent state lock");
            let outcome = change(&mut state)?;
            state.refresh_aliases();
            self.reconcile_runners(&state);
            outcome
        };
        self.changed.notify_one();
        Ok(outcome)
    }

    fn reconcile_runners(&self, state: &LocalState) {
        let mut runners = self.runners.lock().expect("runners lock");
        runners.retain(|id, runner| state.checks.get(id).is_some_and(|c| c.kind == runner.kind));
        for (id, check) in &state.checks {
            if !runners.contains_key(id) {
                let definition = &check.definition;
                let limits = checks::Thresholds {
                    success_before_passing: definition.success_before_passing,
                    failures_before_warning: definition.failures_before_warning,
                    failures_before_critical: definition.failures_before_critical,
                };
                if let Some(runner) =
                    checks::spawn(&self.tasks, self.me.clone(), id.clone(), check.kind.clone(), limits)
                {
                    runners.insert(id.clone(), runner);
                }
            }
        }
    }

    /// Keeps an API registration change in the data dir; a failure is
    /// logged (the registration itself stands for this run).
    fn persist(&self, change: impl FnOnce(&std::path::Path) -> Result<(), String>) {
        let Some(dir) = &self.persist_path else { return };
        if let Err(e) = change(dir) {
            tracing::error!(error = %e, "cannot save an API registration");
        }
    }

    pub fn services(&self) -> Vec<Service> {
        self.state.lock().expect("agent state lock").services()
    }

    /// The type of each local check (`ttl`, `http`, ...), for the agent's stats.
    pub fn check_kinds(&self) -> Vec<&'static str> {
        let state = self.state.lock().expect("agent state lock");
        state.checks.values().map(|c| c.kind.name()).collect()
    }

    pub fn service(&self, id: &str) -> Option<Service> {
        self.state.lock().expect("agent state lock").services.get(id).map(|s| s.service.clone())
    }

    pub fn checks(&self) -> Vec<HealthCheck> {
        let mut checks = self.state.lock().expect("agent state lock").health_checks();
        checks.extend(self.maintenance_checks());
        checks
    }

    /// Deregisters the services whose checks have been critical longer than
    /// their `deregister_critical_service_after` allows, as Consul's agent
    /// reaps them; returns their ids.
    pub fn reap_critical(&self) -> Vec<String> {
        let due = self.state.lock().expect("agent state lock").critical_too_long(std::time::Instant::now());
        for id in &due {
            tracing::info!(service = %id, "deregistering a service critical for longer than deregister_critical_service_after");
            if let Err(e) = self.deregister_service(id) {
                tracing::warn!(service = %id, error = %e, "could not deregister a critical service");
            }
        }
        due
    }

    fn maintenance_checks(&self) -> Vec<HealthCheck> {
        self.maintenance.lock().expect("maintenance lock").values().cloned().collect()
    }

    /// Puts the node in maintenance (a critical check that fails every
    /// instance on it) or takes it out.
    pub fn set_node_maintenance(&self, enable: bool, reason: &str) {
        let default =
            "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
        let check = self.maintenance_check(NODE_MAINTENANCE, "Node Maintenance Mode", reason, default, None);
        self.set_maintenance(NODE_MAINTENANCE.to_string(), enable.then_some(check));
    }

    /// The same for one service instance of this agent.
    pub fn set_service_maintenance(&self, id: &str, enable: bool, reason: &str) -> Result<(), AgentError> {
        let service = self.service(id).ok_or_else(|| AgentError::NotFound(format!("Unknown service ID {id:?}")))?;
        let check_id = format!("{SERVICE_MAINTENANCE_PREFIX}{id}");
        let default =
            "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";
        let check = self.maintenance_check(&check_id, "Service Maintenance Mode", reason, default, Some(&service));
        self.set_maintenance(check_id, enable.then_some(check));
        Ok(())
    }

    fn maintenance_check(
        &self,
        id: &str,
        name: &str,
        reason: &str,
        default: &str,
        service: Option<&Service>,
    ) -> HealthCheck {
        HealthCheck {
            node: self.node.name.clone(),
            check_id: id.to_string(),
            name: name.to_string(),
            status: CheckStatus::Critical,
            notes: if reason.is_empty() { default.to_string() } else { reason.to_string() },
            service_id: service.map(|s| s.id.clone()).unwrap_or_default(),
            service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
            service_tags: service.map(|s| s.tags.clone()).unwrap_or_default(),
            kind: "maintenance".to_string(),
            ..HealthCheck::default()
        }
    }

    fn set_maintenance(&self, id: String, check: Option<HealthCheck>) {
        let mut maintenance = self.maintenance.lock().expect("maintenance lock");
        let changed = match check {
            Some(check) => maintenance.insert(id, check).is_none(),
            None => maintenance.remove(&id).is_some(),
        };
        drop(maintenance);
        if changed {
            self.changed.notify_one();
        }
    }

    /// What the catalog should hold for this node: its services (with the
    /// built-in ones) and checks (with serfHealth).
    pub fn catalog_state(&self) -> (Vec<Service>, Vec<HealthCheck>) {
        let mut services = self.builtin_services.clone();
        let mut checks = vec![serf_health(&self.node.name, true)];
        // One lock for both, so a check never arrives without its service.
        let state = self.state.lock().expect("agent state lock");
        services.extend(state.services());
        checks.extend(state.health_checks());
        checks.extend(self.maintenance_checks());
        (services, checks)
    }

    pub fn sink(&self) -> &dyn CatalogSink {
        self.sink.as_ref()
    }

    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Stops every check runner.
    pub fn stop(&self) {
        self.runners.lock().expect("runners lock").clear();
    }
}
