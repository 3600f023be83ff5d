//! The fault suite's machinery: three servers and two client agents on
//! hosts in network namespaces of their own, with TLS on every hop and
//! ACLs at default deny; faults injected and undone while a recording
//! workload runs, and one table row per fault from the checker's verdict.
//! Every fault is bounded in time and undone before the next; every wait
//! is a condition with a deadline.

pub mod partition;
pub mod revocation;
pub mod table;
pub mod workload;

use std::path::Path;
use std::time::Duration;
use std::time::Instant;

use crate::checker;
use crate::disk;
use crate::disk::Tmpfs;
use crate::netns::TestNet;
use crate::wait_until;
use crate::Agent;
use crate::Http;
use partition::Partition;
use partition::Paused;
use revocation::Prober;
use revocation::Revocation;
use revocation::Token;
use table::Row;
use workload::Workload;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    LeaderKill,
    FollowerKill,
    LeaderPause,
    LeaderCutOff,
    FollowerCutOff,
    /// The leader and one client agent against the other two servers and
    /// the other client agent.
    MinorityLeaderSplit,
    /// The leader's link down and up a few times.
    FlappingLink,
    ClusterRestart,
    /// The disk of the leader's data dir filled to under the reserve.
    DiskFullLeader,
    /// The same on a follower's.
    DiskFullFollower,
    /// New certificates for every server and client agent, then SIGHUP.
    TlsRotation,
    /// A token in use through every agent is deleted.
    TokenRevocation,
}

impl Fault {
    pub const ALL: [Fault; 12] = [
        Fault::LeaderKill,
        Fault::FollowerKill,
        Fault::LeaderPause,
        Fault::LeaderCutOff,
        Fault::FollowerCutOff,
        Fault::MinorityLeaderSplit,
        Fault::FlappingLink,
        Fault::ClusterRestart,
        Fault::DiskFullLeader,
        Fault::DiskFullFollower,
        Fault::TlsRotation,
        Fault::TokenRevocation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::LeaderKill => "leader-sigkill",
            Fault::FollowerKill => "follower-sigkill",
            Fault::LeaderPause => "leader-sigstop",
            Fault::LeaderCutOff => "leader-cut-off",
            Fault::FollowerCutOff => "follower-cut-off",
            Fault::MinorityLeaderSplit => "minority-split",
            Fault::FlappingLink => "flapping-link",
            Fault::ClusterRestart => "cluster-restart",
            Fault::DiskFullLeader => "disk-full-leader",
            Fault::DiskFullFollower => "disk-full-follower",
            Fault::TlsRotation => "tls-rotation",
            Fault::TokenRevocation => "token-revocation",
        }
    }
}

/// How long faults last and how much the workload must do around them.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a fault is held before it is undone.
    pub hold: Duration,
    /// Link flaps of the flapping-link fault (each down, then up, for `flap`).
    pub flaps: usize,
    pub flap: Duration,
    /// Acknowledged writes the workload must make before the fault and
    /// again after the cluster has recovered.
    pub writes_around: usize,
    /// Deadline of every wait (formation, recovery, writes resuming).
    pub settle: Duration,
}

const SERVERS: [usize; 3] = [1, 2, 3];
const CLIENT_HOSTS: [usize; 2] = [4, 5];
/// One per agent (see `workload`), and one more on the first server.
const CLIENTS: usize = 6;
const KEYS: usize = 4;
/// The final reads' client number in the history.
const FINAL_READER: usize = 99;
/// The server whose data dir is on a small tmpfs (the disk-full fault's).
const SMALL_DISK_HOST: usize = 3;
/// The small disk: room for the suite's data above the 64 MiB reserve.
const SMALL_DISK: &str = "256m";
/// What the disk-full fault leaves free: under the reserve.
const FULL_DISK_FREE: u64 = 32 << 20;
/// Below this the small disk would refuse writes of every fault, not only
/// its own: the server's 64 MiB reserve and room for a phase's writes.
const SMALL_DISK_MIN_FREE: u64 = 96 << 20;
/// What a full leader logs as it hands leadership over.
const HANDOVER: &str = "handing leadership to another server";
/// The initial management token, also every agent's agent token.
const MANAGEMENT: &str = "6c1e0f43-2d4b-4a7e-9f0e-55a1b7c3d901";

/// ACLs on, default deny. Client agents keep what they resolved while no
/// server answers (`extend-cache`), as a production agent would be set.
fn acl_config() -> String {
    format!(
        "acl {{\n  enabled = true\n  default_policy = \"deny\"\n  down_policy = \"extend-cache\"\n  \
         tokens {{\n    initial_management = \"{MANAGEMENT}\"\n    agent = \"{MANAGEMENT}\"\n  }}\n}}\n"
    )
}

/// The hosts and their agents. Agents are declared before the small disk
/// and the net, so they are killed before it is unmounted and their
/// namespaces go.
pub struct Hosts {
    pub servers: Vec<Agent>,
    pub clients: Vec<Agent>,
    small_disk: Tmpfs,
    pub net: TestNet,
    pub dir: tempfile::TempDir,
    /// Presents the management token.
    http: Http,
    /// The workload's token ([`revocation::POLICY`]), never revoked.
    workload_token: Token,
}

impl Hosts {
    /// Three servers on hosts 1-3 and client agents on hosts 4 and 5 of
    /// `10.231.<subnet>.0/24`, started; returns once every agent writes.
    pub async fn start(subnet: u8, settle: Duration) -> Hosts {
        let net = TestNet::create(subnet, 5);
        let dir = tempfile::tempdir().expect("temp dir");
        let small_disk = Tmpfs::mount(&dir.path().join(format!("s{SMALL_DISK_HOST}")), SMALL_DISK);
        let acl = acl_config();
        // A short hold keeps a write to a cut-off server from outliving the
        // workload's request timeout by much (it answers "No cluster leader").
        let servers = net.servers(SERVERS.len(), None, dir.path(), &["-rpc-hold-timeout", "2s", "-hcl", &acl]);
        let clients = CLIENT_HOSTS
            .iter()
            .enumerate()
            .map(|(i, &host)| {
                let mut args: Vec<String> =
                    SERVERS.iter().flat_map(|s| ["-retry-join".to_string(), net.host_ip(*s)]).collect();
                args.extend(["-hcl".to_string(), acl.clone()]);
                net.agent(host, &format!("c{}", i + 1), None, dir.path(), args)
            })
            .collect();
        let http = Http::with_token(MANAGEMENT);
        let workload_token = Token { accessor: String::new(), secret: String::new() };
        let mut hosts = Hosts { servers, clients, small_disk, net, dir, http, workload_token };
        hosts.servers.iter_mut().chain(hosts.clients.iter_mut()).for_each(Agent::start);
        hosts.recovered(settle).await;
        let first = hosts.servers[0].http_addr();
        revocation::create_policy(&hosts.http, &first).await;
        hosts.workload_token = revocation::create_token(&hosts.http, &first, "the fault workload").await;
        hosts
    }

    fn targets(&self) -> Vec<String> {
        self.servers.iter().chain(&self.clients).map(Agent::http_addr).collect()
    }

    fn server_addrs(&self) -> Vec<String> {
        self.servers.iter().map(Agent::http_addr).collect()
    }

    /// Waits until every server names the same leader and every agent
    /// (servers and clients) acknowledges a write and a default read.
    pub async fn recovered(&self, settle: Duration) {
        let http = &self.http;
        let servers = self.server_addrs();
        wait_until("every server names the same leader", settle, || {
            let servers = &servers;
            async move { http.agreed_leader(servers).await.map(|_| ()) }
        })
        .await;
        for addr in self.targets() {
            wait_until(&format!("{addr} writes and reads"), settle, || {
                let addr = &addr;
                async move {
                    http.kv_put(addr, "probe", "1").await.then_some(())?;
                    http.kv_value(addr, "probe", "").await
                }
            })
            .await;
        }
    }

    /// The host (1-3) of the current leader, and the two followers.
    async fn roles(&self, settle: Duration) -> (usize, [usize; 2]) {
        let leader = self.net.leader_host(&self.http, &self.servers[0].http_addr(), settle).await;
        let mut followers = SERVERS.iter().copied().filter(|h| *h != leader);
        (leader, [followers.next().unwrap(), followers.next().unwrap()])
    }

    fn server(&mut self, host: usize) -> &mut Agent {
        &mut self.servers[host - 1]
    }

    /// Injects `fault`, holds it, and undoes it; a token revocation's
    /// probes (keys under `prefix`) are judged. The sleeps here are the
    /// fault's bounded duration, not waits for a condition.
    pub async fn inject(&mut self, fault: Fault, timing: &Timing, epoch: Instant, prefix: &str) -> Option<Revocation> {
        // Only one server has the small disk: leadership is moved to it or away.
        match fault {
            Fault::DiskFullLeader => self.lead(SMALL_DISK_HOST, timing.settle).await,
            Fault::DiskFullFollower => self.follow(SMALL_DISK_HOST, timing.settle, true).await,
            _ => {}
        }
        let (leader, followers) = self.roles(timing.settle).await;
        let everyone_but = |host: usize| -> Vec<usize> { (1..=5).filter(|h| *h != host).collect() };
        match fault {
            Fault::LeaderKill | Fault::FollowerKill => {
                let victim = if fault == Fault::LeaderKill { leader } else { followers[0] };
                self.server(victim).kill9();
                tokio::time::sleep(timing.hold).await;
                self.server(victim).start();
            }
            Fault::LeaderPause => {
                let paused = Paused::stop(self.server(leader).pid().expect("leader running"));
                tokio::time::sleep(timing.hold).await;
                paused.resume();
            }
            Fault::LeaderCutOff | Fault::FollowerCutOff => {
                let victim = if fault == Fault::LeaderCutOff { leader } else { followers[0] };
                let cut = Partition::split(&self.net, &[victim], &everyone_but(victim));
                tokio::time::sleep(timing.hold).await;
                cut.heal();
            }
            Fault::MinorityLeaderSplit => {
                let minority = [leader, CLIENT_HOSTS[0]];
                let majority = [followers[0], followers[1], CLIENT_HOSTS[1]];
                let split = Partition::split(&self.net, &minority, &majority);
                tokio::time::sleep(timing.hold).await;
                split.heal();
            }
            Fault::FlappingLink => {
                for _ in 0..timing.flaps {
                    self.net.cut(leader);
                    tokio::time::sleep(timing.flap).await;
                    self.net.restore(leader);
                    tokio::time::sleep(timing.flap).await;
                }
            }
            Fault::ClusterRestart => {
                self.servers.iter_mut().for_each(Agent::kill9);
                tokio::time::sleep(timing.hold / 4).await;
                self.servers.iter_mut().for_each(Agent::start);
            }
            Fault::DiskFullLeader | Fault::DiskFullFollower => {
                let handovers = || self.servers[SMALL_DISK_HOST - 1].log().matches(HANDOVER).count();
                let handed_before = handovers();
                let filler = disk::fill_until(self.small_disk.path(), FULL_DISK_FREE);
                let full_at = Instant::now();
                if fault == Fault::DiskFullLeader {
                    // It refuses every write while it leads: it must hand over, by itself.
                    wait_until("the full leader hands leadership over", timing.hold * 2, || {
                        let handed = handovers() > handed_before;
                        async move { handed.then_some(()) }
                    })
                    .await;
                    self.follow(SMALL_DISK_HOST, timing.hold * 2, false).await;
                }
                tokio::time::sleep(timing.hold.saturating_sub(full_at.elapsed())).await;
                std::fs::remove_file(&filler).expect("remove the filler");
            }
            Fault::TlsRotation => {
                self.rotate_certificates(timing.settle).await;
                tokio::time::sleep(timing.hold).await;
            }
            Fault::TokenRevocation => return Some(self.revoke_under_traffic(timing.hold, epoch, prefix).await),
        }
        None
    }

    /// Waits until the server on `host` leads, asking for a leadership
    /// transfer to it while it does not.
    async fn lead(&self, host: usize, settle: Duration) {
        let (http, via) = (&self.http, self.servers[0].http_addr());
        let name = format!("s{host}");
        let config = http.wait_json(&via, "/v1/operator/raft/configuration", settle).await;
        let servers = config["Servers"].as_array().expect("the raft configuration's servers");
        let id = servers.iter().find(|s| s["Node"] == name.as_str()).and_then(|s| s["ID"].as_str());
        let id = id.unwrap_or_else(|| panic!("{name} in the raft configuration: {config}")).to_string();
        let ip = self.net.host_ip(host);
        wait_until(&format!("{name} leads"), settle, || {
            let (via, id, ip) = (&via, &id, &ip);
            async move {
                if http.leader(via).await?.starts_with(&format!("{ip}:")) {
                    return Some(());
                }
                let _ = http.post(via, &format!("/v1/operator/raft/transfer-leader?id={id}"), "").await;
                None
            }
        })
        .await;
    }

    /// Waits until another server than the one on `host` leads; with `ask`,
    /// asks for a leadership transfer while it does not (without, the
    /// server must give leadership up by itself).
    async fn follow(&self, host: usize, settle: Duration, ask: bool) {
        let (http, via) = (&self.http, self.servers[0].http_addr());
        let ip = self.net.host_ip(host);
        wait_until(&format!("s{host} follows"), settle, || {
            let (via, ip) = (&via, &ip);
            async move {
                if !http.leader(via).await?.starts_with(&format!("{ip}:")) {
                    return Some(());
                }
                if ask {
                    let _ = http.post(via, "/v1/operator/raft/transfer-leader", "").await;
                }
                None
            }
        })
        .await;
    }

    /// New server and client certificates from the same CA, moved into
    /// place; every agent is sent SIGHUP, and every server's port then
    /// presents the new certificate to a new handshake.
    async fn rotate_certificates(&self, settle: Duration) {
        const RELOADED: &str = "reloaded on SIGHUP";
        let dir = self.dir.path();
        let server_cert = crate::tls::rotate_cert(dir, "dc1", true);
        crate::tls::rotate_cert(dir, "dc1", false);
        let agents: Vec<&Agent> = self.servers.iter().chain(&self.clients).collect();
        let reloads_before: Vec<usize> = agents.iter().map(|a| a.log().matches(RELOADED).count()).collect();
        agents.iter().for_each(|agent| agent.reload());
        for (agent, before) in agents.iter().zip(reloads_before) {
            wait_until(&format!("{} reloads", agent.name), settle, || {
                let reloaded = agent.log().matches(RELOADED).count() > before;
                async move { reloaded.then_some(()) }
            })
            .await;
        }
        let [ca, ..] = crate::tls_files(dir, "dc1", true);
        for server in &self.servers {
            let presented = crate::tls::presented_cert(&server.rpc_addr(), &ca, "dc1").await;
            assert!(presented == server_cert, "{} still presents its old certificate after SIGHUP", server.name);
        }
    }

    /// A token of its own in use through every agent for half the hold,
    /// deleted, and probed for the other half.
    async fn revoke_under_traffic(&self, hold: Duration, epoch: Instant, prefix: &str) -> Revocation {
        let via = self.servers[0].http_addr();
        let token = revocation::create_token(&self.http, &via, "revoked under traffic").await;
        let targets = self.targets();
        let prober = Prober::start(&targets, &token, &format!("{prefix}/revoked"), epoch);
        tokio::time::sleep(hold / 2).await;
        assert!(revocation::delete_token(&self.http, &via, &token).await, "the deletion is acknowledged");
        let revoked_at = epoch.elapsed();
        tokio::time::sleep(hold / 2).await;
        let probes = prober.finish().await;
        Revocation::judge(&probes, &targets, revoked_at)
    }

    /// Runs the workload on fresh keys through one fault: some acknowledged
    /// writes, the fault, recovery, some more; then final reads from every
    /// server, the checker, and the lost-write count. A failing history is
    /// written to `report_dir`.
    pub async fn run_phase(&mut self, fault: Fault, round: usize, timing: &Timing, report_dir: &Path) -> Row {
        let free = disk::free_bytes(self.small_disk.path());
        assert!(free > SMALL_DISK_MIN_FREE, "the small disk of s{SMALL_DISK_HOST} has only {free} bytes free");
        let prefix = format!("f/{round}-{}", fault.name());
        let keys: Vec<String> = (0..KEYS).map(|i| format!("{prefix}/k{i}")).collect();
        let log_prefix = format!("{prefix}/log");
        let epoch = Instant::now();
        let config = workload::Config {
            clients: CLIENTS,
            keys: keys.clone(),
            log_prefix: log_prefix.clone(),
            targets: self.targets(),
            timeout: Duration::from_secs(4),
            token: self.workload_token.secret.clone(),
        };
        let load = Workload::start(config, epoch);
        self.wait_acked(&load, timing.writes_around, timing.settle).await;
        let revocation = self.inject(fault, timing, epoch, &prefix).await;
        self.recovered(timing.settle).await;
        let after = load.acked_writes() + timing.writes_around;
        self.wait_acked(&load, after, timing.settle).await;
        let mut recorded = load.finish().await;
        let token = &self.workload_token.secret;
        let finals = workload::final_reads(&keys, &self.server_addrs(), FINAL_READER, epoch, token).await;
        recorded.history.extend(finals);
        let verdict = checker::check(&recorded.history, checker::MAX_STEPS);
        let lost = self.lost_writes(&log_prefix, &recorded.acked_log).await;
        let mut row = Row::new(fault, &recorded, &verdict, lost);
        row.revocation = revocation;
        if !row.passed() {
            let path = report_dir.join(format!("{prefix}.txt").replace('/', "_"));
            let title = format!("fault {} (round {round}): {row:?}", fault.name());
            checker::write_report(&path, &title, &recorded.history, &verdict).expect("write the failing history");
            row.report = Some(path);
        }
        row
    }

    async fn wait_acked(&self, load: &Workload, count: usize, settle: Duration) {
        wait_until(&format!("{count} acknowledged writes"), settle, || {
            let n = load.acked_writes();
            async move { (n >= count).then_some(()) }
        })
        .await;
    }

    /// Acknowledged log keys that some server's default-consistency listing lacks.
    async fn lost_writes(&self, prefix: &str, acked: &[String]) -> usize {
        let mut lost = std::collections::BTreeSet::new();
        for addr in self.server_addrs() {
            let listed = wait_until(&format!("{addr} lists {prefix}"), Duration::from_secs(30), || {
                workload::log_keys(&addr, prefix, &self.workload_token.secret)
            })
            .await;
            let listed: std::collections::HashSet<String> = listed.into_iter().collect();
            lost.extend(acked.iter().filter(|key| !listed.contains(*key)));
        }
        lost.len()
    }
}
