//! Test hosts in network namespaces: each host its own namespace and
//! address on one bridge (in a "switch" namespace), and the test process
//! reaching them through one more veth. Everything is removed on drop, also
//! when the test fails. Needs root and iproute2 (CI runs as root).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::wait_until;
use crate::Agent;
use crate::Http;

pub struct TestNet {
    prefix: String,
    subnet: u8,
    hosts: usize,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

impl TestNet {
    /// `hosts` namespaces on 10.231.<subnet>.1..=hosts, the test process on .254.
    pub fn create(subnet: u8, hosts: usize) -> TestNet {
        let net = TestNet { prefix: format!("ts{subnet}"), subnet, hosts };
        net.remove_leftovers();
        let switch = net.switch();
        ip(&["netns", "add", &switch]);
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        // The test process's own port on the switch.
        let (root_end, root_peer) = (format!("{}-r", net.prefix), format!("{}-rp", net.prefix));
        ip(&["link", "add", &root_end, "type", "veth", "peer", "name", &root_peer]);
        ip(&["link", "set", &root_peer, "netns", &switch]);
        ip(&["-n", &switch, "link", "set", &root_peer, "master", "br0", "up"]);
        ip(&["addr", "add", &format!("10.231.{subnet}.254/24"), "dev", &root_end]);
        ip(&["link", "set", &root_end, "up"]);
        for host in 1..=hosts {
            net.add_host(host);
        }
        net
    }

    fn add_host(&self, host: usize) {
        let (ns, switch) = (self.ns(host), self.switch());
        let (inside, port) = (format!("{}-h{host}", self.prefix), self.port(host));
        ip(&["netns", "add", &ns]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["link", "add", &inside, "type", "veth", "peer", "name", &port]);
        ip(&["link", "set", &inside, "netns", &ns]);
        ip(&["link", "set", &port, "netns", &switch]);
        ip(&["-n", &switch, "link", "set", &port, "master", "br0", "up"]);
        ip(&["-n", &ns, "addr", "add", &format!("{}/24", self.host_ip(host)), "dev", &inside]);
        ip(&["-n", &ns, "link", "set", &inside, "up"]);
    }

    fn switch(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    fn port(&self, host: usize) -> String {
        format!("{}-p{host}", self.prefix)
    }

    pub fn ns(&self, host: usize) -> String {
        format!("{}-n{host}", self.prefix)
    }

    pub fn host_ip(&self, host: usize) -> String {
        format!("10.231.{}.{host}", self.subnet)
    }

    /// A tessera agent (not started) on test host `host`: node `name`, bound
    /// to the host's address, with its client ports (HTTP, DNS, gRPC) on
    /// `client`, or on the host's address when None.
    pub fn agent(&self, host: usize, name: &str, client: Option<&str>, dir: &Path, mut args: Vec<String>) -> Agent {
        let ip = self.host_ip(host);
        let client = client.map_or(ip.clone(), str::to_string);
        args.extend(["-node", name, "-bind", &ip, "-client", &client].map(String::from));
        args.extend(["-data-dir".into(), dir.join(name).display().to_string()]);
        let server = args.iter().any(|a| a == "-server");
        args.extend(crate::tls_args(dir, "dc1", server));
        let mut agent = Agent::new(name, &ip, dir, args);
        agent.netns = Some(self.ns(host));
        agent
    }

    /// Servers `s1..` on hosts 1..=`count` (not started), expecting each
    /// other and joining each other, with `extra` arguments.
    pub fn servers(&self, count: usize, client: Option<&str>, dir: &Path, extra: &[&str]) -> Vec<Agent> {
        let expect = count.to_string();
        (1..=count)
            .map(|host| {
                let mut args: Vec<String> = ["-server", "-bootstrap-expect", &expect].map(String::from).to_vec();
                args.extend(extra.iter().map(|a| a.to_string()));
                for peer in (1..=count).filter(|p| *p != host) {
                    args.extend(["-retry-join".into(), self.host_ip(peer)]);
                }
                self.agent(host, &format!("s{host}"), client, dir, args)
            })
            .collect()
    }

    /// The host whose server leads, as the agent at `http_addr` names it;
    /// waits out an election (no leader, or one not on these hosts yet).
    pub async fn leader_host(&self, http: &Http, http_addr: &str, timeout: Duration) -> usize {
        wait_until("a leader on one of the test hosts", timeout, || async move {
            let leader = http.leader(http_addr).await?;
            (1..=self.hosts).find(|h| leader.starts_with(&format!("{}:", self.host_ip(*h))))
        })
        .await
    }

    /// Cuts a host off the network (its switch port goes down).
    pub fn cut(&self, host: usize) {
        ip(&["-n", &self.switch(), "link", "set", &self.port(host), "down"]);
    }

    pub fn restore(&self, host: usize) {
        ip(&["-n", &self.switch(), "link", "set", &self.port(host), "up"]);
    }

    fn remove_leftovers(&self) {
        for host in 1..=self.hosts {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(host)]).output();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.switch()]).output();
        let _ = Command::new("ip").args(["link", "del", &format!("{}-r", self.prefix)]).output();
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.remove_leftovers();
    }
}
