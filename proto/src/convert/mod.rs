//! Conversions between domain types (`tessera-mesh`) and their protobuf form.
//! A conversion that can fail says why, so a caller on the authorization path
//! can refuse rather than drop.

pub mod connect;
