//! Compiles the gRPC contract in `proto/mspwatch/v1` with the vendored protoc, and writes the
//! file descriptor set that server reflection serves.

use std::env;
use std::error::Error;
use std::path::PathBuf;

const PROTO_FILES: [&str; 3] = ["alert.proto", "alert_service.proto", "admin_service.proto"];

fn main() -> Result<(), Box<dyn Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let includes = protoc_bin_vendored::include_path()?;
    // No system protoc is needed: the build uses the vendored one.
    env::set_var("PROTOC", protoc);

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let files: Vec<PathBuf> =
        PROTO_FILES.iter().map(|name| proto_root.join("mspwatch/v1").join(name)).collect();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("mspwatch_v1_descriptor.bin"))
        .compile_protos(&files, &[proto_root.clone(), includes])?;

    println!("cargo:rerun-if-changed={}", proto_root.join("mspwatch/v1").display());
    Ok(())
}
