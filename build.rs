//! Rebuilds the binary when the embedded schemas, mappings or conformance suite change: `include_dir!` reads
//! them at compile time, and cargo does not know that on its own.

fn main() {
    println!("cargo:rerun-if-changed=schemas");
    println!("cargo:rerun-if-changed=mappings");
    println!("cargo:rerun-if-changed=conformance");
}
