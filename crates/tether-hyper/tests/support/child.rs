//! Running the crate's examples from a test as bounded child processes.

use std::path::PathBuf;
use std::process::Command;

pub use tether_test_support::child::{wait_bounded, Log, Running};

/// The example `name` of this crate, built for this test run's profile: Cargo gives tests no
/// path to examples, so this runs `cargo build --workspace --example NAME` (a no-op when it is
/// up to date) and returns the binary next to the test's own directory. `--workspace` resolves
/// features as `cargo test --workspace` does, so the example it built is the one found; with
/// `-p tether-hyper` the features differ and the whole dependency tree was compiled again (36 s
/// of CI's test stage).
pub fn example_bin(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target dir");
    let release = profile_dir.file_name().is_some_and(|p| p == "release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--workspace", "--example", name])
        .arg("--target-dir")
        .arg(target_dir);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build --example");
    assert!(status.success(), "cargo build --example {name} failed");
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "no example binary at {}", bin.display());
    bin
}
