//! Tessera's shared vocabulary: the generated protobuf messages and tonic
//! services that servers, client agents, sidecars and the CLI speak, and the
//! pure catalog types and decisions (service definitions, sidecar
//! expansion) that more than one of them needs.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod connect;
pub mod transport;

pub mod v1 {
    tonic::include_proto!("tessera.v1");
}
