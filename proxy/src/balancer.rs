//! Endpoint choice for one upstream: power of two choices on open
//! connection counts, each endpoint tried at most once per connection.
//! The endpoint list follows its watch (read again for every connection);
//! counts survive list changes, keyed by address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;

use rand::Rng;
use tokio::sync::watch;

use crate::config::Endpoint;
use crate::state::unseen;

#[derive(Debug)]
pub struct Slot {
    pub endpoint: Endpoint,
    open: Arc<AtomicUsize>,
}

#[derive(Debug)]
pub struct Balancer {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    rx: Option<watch::Receiver<Vec<Endpoint>>>,
    slots: Arc<[Slot]>,
}

impl Balancer {
    /// Without a watch there are no endpoints and every connection is closed.
    pub fn new(rx: Option<watch::Receiver<Vec<Endpoint>>>) -> Self {
        let mut inner = Inner { rx, slots: Arc::from(Vec::new()) };
        inner.refresh(true);
        Balancer { inner: Mutex::new(inner) }
    }

    /// The attempts for one new connection, over the current endpoints.
    pub fn attempts(&self) -> Attempts {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.refresh(false);
        let slots = inner.slots.clone();
        let untried = (0..slots.len()).collect();
        Attempts { slots, untried }
    }
}

impl Inner {
    fn refresh(&mut self, first: bool) {
        let Some(rx) = self.rx.as_mut() else { return };
        let endpoints = match first {
            true => rx.borrow_and_update().clone(),
            false => match unseen(rx) {
                Some(endpoints) => endpoints,
                None => return,
            },
        };
        let mut counts: HashMap<SocketAddr, Arc<AtomicUsize>> =
            self.slots.iter().map(|s| (s.endpoint.addr, s.open.clone())).collect();
        self.slots = endpoints
            .into_iter()
            .map(|endpoint| {
                let open = counts.remove(&endpoint.addr).unwrap_or_default();
                Slot { endpoint, open }
            })
            .collect();
    }
}

/// The endpoints not yet tried for one connection.
#[derive(Debug)]
pub struct Attempts {
    slots: Arc<[Slot]>,
    untried: Vec<usize>,
}

impl Attempts {
    /// The less loaded of two random untried endpoints, or `None` once every
    /// endpoint has been tried.
    pub fn next(&mut self) -> Option<Picked> {
        let pick = match self.untried.len() {
            0 => return None,
            1 => 0,
            n => {
                let mut rng = rand::thread_rng();
                let first = rng.gen_range(0..n);
                let second = (first + rng.gen_range(1..n)) % n;
                let load = |i: usize| self.slots[self.untried[i]].open.load(Ordering::Relaxed);
                if load(second) < load(first) {
                    second
                } else {
                    first
                }
            }
        };
        let index = self.untried.swap_remove(pick);
        self.slots[index].open.fetch_add(1, Ordering::Relaxed);
        Some(Picked { slots: self.slots.clone(), index })
    }
}

/// A chosen endpoint; counts as one open connection on it until dropped.
#[derive(Debug)]
pub struct Picked {
    slots: Arc<[Slot]>,
    index: usize,
}

impl Picked {
    pub fn endpoint(&self) -> &Endpoint {
        &self.slots[self.index].endpoint
    }
}

impl Drop for Picked {
    fn drop(&mut self) {
        self.slots[self.index].open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(port: u16) -> Endpoint {
        Endpoint { addr: SocketAddr::from(([127, 0, 0, 1], port)), service: "db".into() }
    }

    #[test]
    fn tries_every_endpoint_once_then_gives_up() {
        let (_tx, rx) = watch::channel(vec![endpoint(1), endpoint(2), endpoint(3)]);
        let balancer = Balancer::new(Some(rx));
        let mut attempts = balancer.attempts();
        let mut seen: Vec<u16> = std::iter::from_fn(|| attempts.next().map(|p| p.endpoint().addr.port())).collect();
        seen.sort();
        assert_eq!(seen, vec![1, 2, 3]);
        assert!(Balancer::new(None).attempts().next().is_none());
    }

    #[test]
    fn prefers_the_less_loaded_endpoint_and_keeps_counts_across_updates() {
        let (tx, rx) = watch::channel(vec![endpoint(1), endpoint(2)]);
        let balancer = Balancer::new(Some(rx));
        let busy: Vec<Picked> = (0..3)
            .map(|_| {
                let mut a = balancer.attempts();
                std::iter::from_fn(|| a.next()).find(|p| p.endpoint().addr.port() == 1).unwrap()
            })
            .collect();
        // With two endpoints p2c always compares both: the idle one wins.
        for _ in 0..20 {
            assert_eq!(balancer.attempts().next().unwrap().endpoint().addr.port(), 2);
        }
        tx.send(vec![endpoint(2), endpoint(1), endpoint(4)]).unwrap();
        let mut attempts = balancer.attempts();
        let first = attempts.next().unwrap();
        assert_ne!(first.endpoint().addr.port(), 1, "endpoint 1 still has 3 open connections");
        drop(busy);
    }
}
