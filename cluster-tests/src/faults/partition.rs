//! Network faults between test hosts that leave the test process able to
//! reach every host, so a cut-off server keeps getting the workload's
//! requests (and must not answer them from what it has).
//!
//! A partition is a pair of blackhole routes per host pair across it, one
//! in each host's namespace: neither side's packets reach the other, in
//! either direction. There is no iptables on the test machines; routes
//! need only iproute2, which the namespaces need anyway.

use std::process::Command;

use crate::netns::TestNet;

fn ip_in(ns: &str, args: &[&str]) -> bool {
    Command::new("ip").args(["-n", ns]).args(args).output().is_ok_and(|out| out.status.success())
}

/// Blackhole routes in place; removed by [`Partition::heal`] or on drop.
pub struct Partition<'a> {
    net: &'a TestNet,
    /// (host whose namespace holds the route, address it drops)
    routes: Vec<(usize, String)>,
}

impl<'a> Partition<'a> {
    /// No traffic between any host of `a` and any host of `b`.
    pub fn split(net: &'a TestNet, a: &[usize], b: &[usize]) -> Partition<'a> {
        let mut partition = Partition { net, routes: Vec::new() };
        for &x in a {
            for &y in b {
                partition.drop_between(x, y);
                partition.drop_between(y, x);
            }
        }
        partition
    }

    fn drop_between(&mut self, host: usize, peer: usize) {
        let target = format!("{}/32", self.net.host_ip(peer));
        assert!(ip_in(&self.net.ns(host), &["route", "add", "blackhole", &target]), "blackhole {target} on {host}");
        self.routes.push((host, target));
    }

    pub fn heal(mut self) {
        self.remove_routes();
    }

    fn remove_routes(&mut self) {
        for (host, target) in self.routes.drain(..) {
            // A namespace already gone (the net dropped first) has no route to remove.
            let _ = ip_in(&self.net.ns(host), &["route", "del", "blackhole", &target]);
        }
    }
}

impl Drop for Partition<'_> {
    fn drop(&mut self) {
        self.remove_routes();
    }
}

/// A process stopped with SIGSTOP, continued by [`Paused::resume`] or on drop.
pub struct Paused {
    pid: Option<u32>,
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
}

impl Paused {
    pub fn stop(pid: u32) -> Paused {
        signal("STOP", pid);
        Paused { pid: Some(pid) }
    }

    pub fn resume(mut self) {
        if let Some(pid) = self.pid.take() {
            signal("CONT", pid);
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            signal("CONT", pid);
        }
    }
}
