//! Connect on the servers: the built-in CA ([`ca`]: the first root, leaf
//! signing, rotation and pruning) with its stored model ([`model`]), and the
//! intention writes and reads the APIs share ([`intentions`]).

pub mod ca;
pub mod intentions;
pub mod roots;
