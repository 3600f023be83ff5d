//! The Tessera sidecar proxy and the Connect-native library.
//!
//! Empty until the sidecar issue: the control plane (servers, CA, intentions)
//! comes first. The crate exists so the workspace layout is the final one.
#![forbid(unsafe_code)]
