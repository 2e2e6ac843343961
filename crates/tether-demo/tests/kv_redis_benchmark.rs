//! The `kv` binary under the real `redis-benchmark`: 50 clients, 20,000 `SET`s and `GET`s,
//! without pipelining and with 16 commands in flight per client, on both runtime flavors. The
//! run must complete with no error (the figures themselves are measured by
//! `scripts/kv_vs_redis.sh`, beside `redis-server`, in a release build).
//!
//! Needs Debian's `redis-tools`: ignored by a plain `cargo test`, run by `.ci/run`'s kv stage
//! with `--ignored`; without the tool it fails and says how to install it.

mod support;

use support::redis_tools::{cli, require, run, KvServer};

fn benchmark(port: u16, extra: &[&str]) {
    let port = port.to_string();
    let mut args = vec![
        "-p", &port, "-c", "50", "-n", "20000", "-t", "set,get", "-q",
    ];
    args.extend_from_slice(extra);
    let out = run("redis-benchmark", &args, b"");
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert!(out.success, "redis-benchmark {extra:?} failed:\n{all}");
    for test in ["SET: ", "GET: "] {
        let line = out
            .stdout
            .split(['\r', '\n'])
            .rfind(|l| l.starts_with(test) && l.contains("requests per second"));
        assert!(line.is_some(), "no final {test:?} line:\n{all}");
    }
    // redis-benchmark warns when its start-up `CONFIG GET` fails, and prints server errors.
    for bad in ["WARNING", "Error", "ERR"] {
        assert!(
            !all.contains(bad),
            "{bad:?} in redis-benchmark's output:\n{all}"
        );
    }
}

#[test]
#[ignore = "needs redis-benchmark (redis-tools): run by .ci/run's kv stage, or with -- --ignored"]
fn redis_benchmark_runs_without_errors_on_both_flavors() {
    require("redis-benchmark");
    for flavor in [&["--current-thread"][..], &[][..]] {
        let server = KvServer::start(flavor);
        benchmark(server.port(), &[]);
        benchmark(server.port(), &["-P", "16"]);
        // The benchmark's key is there, and the server still answers.
        assert_eq!(cli(server.port(), &["DBSIZE"]), "(integer) 1");
        assert_eq!(
            cli(server.port(), &["EXISTS", "key:__rand_int__"]),
            "(integer) 1"
        );
        // Nothing went wrong in the server: no accept error, no panic. (Slow-poll reports are
        // allowed: a debug build on a shared machine can be descheduled in the middle of a
        // poll, which says nothing about the server.)
        let log = server.run.log();
        let problems = log.count_stderr_lines(|l| !l.contains("in one poll"));
        assert_eq!(
            problems,
            0,
            "the server reported problems ({flavor:?}):\n{}",
            log.output()
        );
    }
}
