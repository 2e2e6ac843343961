//! Running Redis's own tools (`redis-cli`, `redis-benchmark`, `redis-server`) from a test, and
//! the `kv` binary they talk to.
//!
//! The tests that need these tools are `#[ignore]`d so that `cargo test --workspace` passes on
//! a machine without them; `.ci/run` installs Debian's `redis-tools` and `redis-server` and runs
//! them with `--ignored`. Run that way on a machine without the tools, they fail (they never
//! skip silently) and say how to get them.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::child::{kv_bin, wait_bounded, Running};

/// How long one tool run may take before it is killed and the test fails.
pub const TOOL_LIMIT: Duration = Duration::from_secs(120);

/// The path of `tool` (`redis-cli`, `redis-benchmark`, `redis-server`), found on `PATH`; fails
/// the test with how to install it when it is missing.
pub fn require(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        let package = if tool == "redis-server" {
            "redis-server"
        } else {
            "redis-tools"
        };
        panic!(
            "`{tool}` is not installed: install {package} (apt-get install -y redis-tools \
             redis-server) or run .ci/run, whose kv stage installs them"
        )
    })
}

/// What a tool printed and how it exited.
#[derive(Debug)]
pub struct Output {
    /// Its exit status was success.
    pub success: bool,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

/// Runs `tool args...` with `input` on stdin, bounded by [`TOOL_LIMIT`] (killed past it).
pub fn run(tool: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(require(tool))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let mut err = child.stderr.take().unwrap();
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child, TOOL_LIMIT);
    let _ = writer.join();
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "`{tool} {args:?}` did not finish within {TOOL_LIMIT:?} (killed)\n{stdout}\n{stderr}"
        );
    };
    Output {
        success: status.success(),
        stdout,
        stderr,
    }
}

/// `redis-cli -p PORT --no-raw ARGS...`: the reply as `redis-cli` prints it, trailing newline
/// removed.
pub fn cli(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut all = vec!["-p", &port, "--no-raw"];
    all.extend_from_slice(args);
    let out = run("redis-cli", &all, b"");
    assert!(out.success, "redis-cli {args:?} failed: {}", out.stderr);
    out.stdout.trim_end_matches('\n').to_string()
}

/// The `kv` binary serving on a free loopback port (killed when dropped).
pub struct KvServer {
    /// The child process and its output.
    pub run: Running,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl KvServer {
    /// Starts `kv 127.0.0.1:0 ARGS...` and waits for its address.
    pub fn start(args: &[&str]) -> KvServer {
        let mut cmd = Command::new(kv_bin());
        cmd.arg("127.0.0.1:0").args(args);
        let run = Running::start(cmd, "kv server");
        let line = run.wait_for_line("listening on ", Duration::from_secs(30));
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        KvServer { run, addr }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// `redis-server` on a free loopback port, persistence off (killed when dropped).
pub struct RedisServer {
    /// The child process.
    pub run: Running,
    /// Its port.
    pub port: u16,
}

impl RedisServer {
    /// Starts it and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        let port = free_port();
        let mut cmd = Command::new(require("redis-server"));
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]);
        let run = Running::start(cmd, "redis-server");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = run_quiet_ping(port);
            if out {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING within 30 s\n{}",
                run.output()
            );
            thread::sleep(Duration::from_millis(50));
        }
        RedisServer { run, port }
    }
}

fn run_quiet_ping(port: u16) -> bool {
    let out = run("redis-cli", &["-p", &port.to_string(), "PING"], b"");
    out.stdout.trim() == "PONG"
}

/// A loopback port nothing listens on now (bound and released; another process could take it
/// in between, which would make the server fail to start, not the test pass wrongly).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
