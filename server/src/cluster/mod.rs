//! Cluster services on top of consensus: [`bootstrap`] (-bootstrap-expect
//! and joining), [`membership`] (adding and removing voters on the leader),
//! [`leader`] (the cluster id, once, by the first leader) and [`liveness`]
//! (client nodes turn critical when their heartbeats stop).

pub mod bootstrap;
pub mod leader;
pub mod liveness;
pub mod membership;
