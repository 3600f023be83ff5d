//! Compiles the .proto files with protox (a pure-Rust protobuf compiler), so
//! building Tessera needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/tessera/v1/raft.proto", "proto/tessera/v1/cluster.proto", "proto/tessera/v1/agent.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
