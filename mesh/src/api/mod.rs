//! Consul's HTTP API types, requests' answers as Consul's Go structs shape
//! them: one set for everyone who speaks the API. The server serializes
//! them (borrowing from its rows where an answer is large), the CLI, the
//! client agent's callers and the tests deserialize them.
//!
//! Every struct lists its fields in the order Consul's Go struct declares
//! them, which is the order Go's encoder writes. Which fields are always
//! present and which are skipped when empty is documented on each; a
//! field Consul's struct has and Tessera does not answer is left out here
//! rather than invented.
//!
//! Strings that the server takes from stored rows are `Cow<'a, str>`: the
//! server builds `Cow::Borrowed` views without copying, readers get
//! `Cow::Owned`. None of these types use `#[serde(borrow)]`, so `T<'static>`
//! is `DeserializeOwned` (what `reqwest`'s and the CLI's `json()` need); the
//! `Owned*` aliases name those. Answers that are small or built fresh per
//! request (members, KV, operator, Connect) are plain owned structs.

pub mod agent;
pub mod catalog;
pub mod connect;
pub mod entries;
pub mod kv;
pub mod operator;
mod serde_util;

#[cfg(test)]
mod tests;
