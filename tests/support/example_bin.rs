//! Building an example from a test and running it as a bounded child process.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Bounds building the example.
const BUILD_LIMIT: Duration = Duration::from_secs(300);

/// Builds the example `name` with the test's own profile and returns its path.
pub fn build_example(name: &str) -> PathBuf {
    // A test binary is `<target>/<profile>/deps/NAME-<hash>`; examples go to
    // `<target>/<profile>/examples/`.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is not in <target>/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "tether", "--example", name])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(profile) => {
            cmd.args(["--profile", profile]);
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the {name} example: {e}"));
    let stderr = child.stderr.take().unwrap();
    let errors = thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child, BUILD_LIMIT);
    let errors = errors.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("building the {name} example failed ({s}):\n{errors}"),
        None => panic!("building the {name} example took more than {BUILD_LIMIT:?}:\n{errors}"),
    }
    assert!(
        bin.is_file(),
        "the {name} example was built, but not at {} (a --target build?)",
        bin.display()
    );
    bin
}

/// Waits for `child` to exit for at most `limit`; past it, kills it (by its pid, through
/// `Child::kill`), reaps it and returns `None`.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}
