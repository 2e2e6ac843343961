//! Running the crate's examples from a test as bounded child processes.

use std::path::PathBuf;
use std::process::Command;

pub use tether_test_support::child::{wait_bounded, Log, Running};

/// The example `name` of this crate, built for this test run's profile: Cargo gives tests no
/// path to examples, so this runs `cargo test --workspace --no-run` (the README's test build,
/// which builds every example as a plain binary too; a no-op of about a second when it is up
/// to date, as it is when `cargo test --workspace` runs this test) and returns the binary next
/// to the test's own directory.
/// - Not `cargo build --example NAME`: that resolves another unit graph (the proc-macro crates
///   and every crate above them, tether included, under other hashes), so it compiled them all
///   again, 30 to 38 s of CI's test stage; with `-p tether-hyper` the features differed too.
/// - The variables Cargo sets for a test process are taken out of the build's environment:
///   ring's build script asks to be rerun when `CARGO_MANIFEST_DIR` changes, so a build that
///   saw the test's value and the next one from a shell, which sees none, each compiled ring,
///   rustls and everything above them again (30 s per switch, twice or more per CI run).
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
    for (var, _) in std::env::vars_os() {
        if is_set_by_cargo_for_tests(&var.to_string_lossy()) {
            cmd.env_remove(&var);
        }
    }
    cmd.args(["test", "--quiet", "--workspace", "--no-run"])
        .arg("--target-dir")
        .arg(target_dir);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo test --no-run");
    assert!(
        status.success(),
        "cargo test --workspace --no-run (to build the example {name}) failed"
    );
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "no example binary at {}", bin.display());
    bin
}

/// Whether `var` is one of the variables Cargo sets when it runs a test (not one of its
/// configuration's, such as `CARGO_INCREMENTAL` or `CARGO_PROFILE_*`, which the build must keep).
fn is_set_by_cargo_for_tests(var: &str) -> bool {
    var.starts_with("CARGO_PKG_")
        || var.starts_with("CARGO_BIN_EXE_")
        || matches!(
            var,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "OUT_DIR"
        )
}
