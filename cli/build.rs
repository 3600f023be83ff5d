//! Links the `tessera` binary as a position-dependent executable. In a PIE
//! the loader writes every absolute pointer of the read-only data (vtables,
//! tables of strings: about 650 kB here) in each process, so each sidecar
//! would carry a private copy of them; linked without PIE those pages stay
//! clean file pages shared by every sidecar on the host, and a sidecar's
//! private memory drops by a quarter (bench/proxy.sh). The price: the
//! binary's own image is not randomized by ASLR (shared libraries, heap
//! and stacks still are).
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
