//! Cluster services on top of consensus: [`bootstrap`] (-bootstrap-expect
//! and joining), [`membership`] (adding and removing voters on the leader),
//! [`leader`] (the cluster id, once, by the first leader), [`liveness`]
//! (client nodes turn critical when their heartbeats stop, and are reaped)
//! and [`transfer`] (handing leadership to another voter).

pub mod bootstrap;
pub mod leader;
pub mod liveness;
pub mod membership;
pub mod transfer;
