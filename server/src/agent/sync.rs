//! Anti-entropy: the catalog holds exactly what this agent has. Each local
//! change is pushed at once as a delta (only what changed since the last
//! push, in one Raft entry); every minute, and after any failure, the full
//! state is pushed instead, so a server that lost something gets it back.
//! Failed pushes are retried with backoff and logged; nothing is dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use tessera_store::command::Command;

const FULL_SYNC_EVERY: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the catalog was last told.
#[derive(Default, Clone)]
struct Pushed {
    services: BTreeMap<String, Service>,
    checks: BTreeMap<String, HealthCheck>,
}

impl Pushed {
    fn of(services: Vec<Service>, checks: Vec<HealthCheck>) -> Pushed {
        Pushed {
            services: services.into_iter().map(|s| (s.id.clone(), s)).collect(),
            checks: checks.into_iter().map(|c| (c.check_id.clone(), c)).collect(),
        }
    }
}

/// The commands that turn `old` into `new` for `node`; None if nothing changed.
fn delta(node: &Node, old: &Pushed, new: &Pushed) -> Option<Command> {
    let mut commands = Vec::new();
    for id in old.services.keys().filter(|id| !new.services.contains_key(*id)) {
        commands.push(Command::CatalogDeregister {
            node: node.name.clone(),
            service_id: Some(id.clone()),
            check_id: None,
        });
    }
    for id in old.checks.keys().filter(|id| !new.checks.contains_key(*id)) {
        commands.push(Command::CatalogDeregister {
            node: node.name.clone(),
            service_id: None,
            check_id: Some(id.clone()),
        });
    }
    for service in new.services.values().filter(|s| old.services.get(&s.id) != Some(*s)) {
        commands.push(Command::CatalogRegister { node: node.clone(), service: Some(service.clone()), checks: vec![] });
    }
    let checks: Vec<HealthCheck> =
        new.checks.values().filter(|c| old.checks.get(&c.check_id) != Some(*c)).cloned().collect();
    if !checks.is_empty() {
        commands.push(Command::CatalogRegister { node: node.clone(), service: None, checks });
    }
    (!commands.is_empty()).then_some(Command::Batch { commands })
}

pub async fn run(agent: Arc<Agent>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(250);
    let mut pushed: Option<Pushed> = None;
    let mut last_full = Instant::now();
    loop {
        let (services, checks) = agent.catalog_state();
        let current = Pushed::of(services.clone(), checks.clone());
        let node = agent.node().clone();
        let command = match &pushed {
            Some(old) if last_full.elapsed() < FULL_SYNC_EVERY => delta(&node, old, &current),
            _ => {
                last_full = Instant::now();
                Some(Command::CatalogSyncNode { node, services, checks })
            }
        };
        let wait = match command {
            None => FULL_SYNC_EVERY,
            Some(command) => match agent.sink().write(command).await {
                Ok(()) => {
                    backoff = Duration::from_millis(250);
                    pushed = Some(current);
                    FULL_SYNC_EVERY
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "catalog sync failed");
                    pushed = None;
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            },
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = agent.changed() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(id: &str, port: u16) -> Service {
        Service { id: id.into(), name: id.into(), port, ..Service::default() }
    }

    fn check(id: &str) -> HealthCheck {
        HealthCheck { node: "n".into(), check_id: id.into(), ..HealthCheck::default() }
    }

    #[test]
    fn deltas_carry_only_what_changed() {
        let node = Node { name: "n".into(), ..Node::default() };
        let old = Pushed::of(vec![svc("a", 1), svc("b", 1)], vec![check("c1")]);
        assert!(delta(&node, &old, &old).is_none());
        let new = Pushed::of(vec![svc("a", 2), svc("c", 1)], vec![check("c1"), check("c2")]);
        let Some(Command::Batch { commands }) = delta(&node, &old, &new) else { panic!("a batch") };
        let kinds: Vec<String> = commands
            .iter()
            .map(|c| match c {
                Command::CatalogDeregister { service_id: Some(id), .. } => format!("-{id}"),
                Command::CatalogRegister { service: Some(s), .. } => format!("+{}", s.id),
                Command::CatalogRegister { checks, .. } => format!("checks {}", checks.len()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds, vec!["-b", "+a", "+c", "checks 1"]);
    }
}
