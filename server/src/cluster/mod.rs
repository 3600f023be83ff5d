//! Cluster services on top of consensus: [`bootstrap`] (-bootstrap-expect
//! and joining), [`membership`] (adding and removing voters on the leader),
//! [`leader`] (the cluster id, once, by the first leader), [`liveness`]
//! (client nodes turn critical when their heartbeats stop, and are reaped),
//! [`transfer`] (handing leadership to another voter) and [`disk_full`]
//! (a leader whose disk is full hands it over).

pub mod bootstrap;
pub mod disk_full;
pub mod leader;
pub mod liveness;
pub mod membership;
pub mod transfer;
