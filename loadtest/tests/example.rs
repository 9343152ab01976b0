//! The committed example data set is exactly what its documented command writes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `mspwatch-loadtest generate ... --out examples/week ...` line of docs/loadtest.md.
fn documented_command() -> Vec<String> {
    let docs = std::fs::read_to_string(repository_root().join("docs/loadtest.md"))
        .expect("docs/loadtest.md is readable");
    let line = docs
        .lines()
        .find(|line| {
            line.starts_with("mspwatch-loadtest generate") && line.contains("examples/week")
        })
        .expect("docs/loadtest.md documents the command that made examples/week");
    line.split_whitespace().skip(1).map(str::to_owned).collect()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).expect("events file exists");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut text).expect("events file is gzip");
    text
}

#[test]
fn the_example_data_set_is_what_the_documented_command_writes() {
    let out = tempfile::tempdir().unwrap();
    let mut arguments = documented_command();
    let position = arguments.iter().position(|argument| argument == "--out").unwrap();
    arguments[position + 1] = out.path().to_string_lossy().into_owned();
    let status =
        Command::new(env!("CARGO_BIN_EXE_mspwatch-loadtest")).args(&arguments).status().unwrap();
    assert!(status.success());

    let example = repository_root().join("examples/week");
    for name in ["ground-truth.jsonl", "directory.yaml"] {
        let committed = std::fs::read(example.join(name)).unwrap();
        assert_eq!(std::fs::read(out.path().join(name)).unwrap(), committed, "{name}");
    }
    let committed = gunzip(&example.join("events.jsonl.gz"));
    assert!(committed.len() > 10_000_000);
    assert!(gunzip(&out.path().join("events.jsonl.gz")) == committed, "events differ");
}
