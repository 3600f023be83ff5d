//! The replicated tables. Each table module owns its row codec, its writes
//! (taking the Raft index of the entry that makes them, and bumping the
//! table's modify index when something changed) and its reads.

pub mod catalog;
pub mod connect;
pub mod kv;
pub mod meta;
