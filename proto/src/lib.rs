//! Tessera's wire vocabulary: the generated protobuf messages and tonic
//! services that servers, client agents, sidecars and the CLI share.
#![forbid(unsafe_code)]

pub mod v1 {
    tonic::include_proto!("tessera.v1");
}
