//! Connect on the servers: the built-in CA ([`ca`]: the first root, leaf
//! signing, rotation and pruning; its stored model is `tessera_store::ca`),
//! the public roots ([`roots`]), the intention writes the APIs share
//! ([`intentions`]), what a WatchConnect stream sends ([`update`]), the
//! CA work only the leader does ([`leader`]) and client agents' own
//! certificates for auto_encrypt ([`agent_certs`]).

pub mod agent_certs;
pub mod ca;
pub mod intentions;
pub mod leader;
pub mod roots;
pub mod update;
