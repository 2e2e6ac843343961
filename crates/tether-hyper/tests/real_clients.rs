//! Clients nobody here wrote, against `tether_hyper::serve`: `curl` (HTTP/1.1 and HTTP/2 prior
//! knowledge, against the `axum` example binary), `h2load` (many HTTP/2 streams at once) and
//! `wrk` (HTTP/1.1 keep-alive connections for a second). They need the tools, so they are
//! ignored in the plain test run; `.ci/run`'s `http` stage installs them (Debian's curl, wrk and
//! nghttp2-client) and runs these with `--ignored`.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use support::child::{example_bin, Running};

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "this test needs {name}: apt-get install -y curl wrk nghttp2-client (or run .ci/run's http \
         stage)"
    );
    Command::new(name)
}

fn start_example() -> (Running, SocketAddr) {
    let mut cmd = Command::new(example_bin("axum"));
    cmd.arg("127.0.0.1:0");
    let server = Running::start(cmd, "axum example");
    let line = server.wait_for_line("listening on http://", Duration::from_secs(30));
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    (server, addr)
}

fn curl(args: &[&str]) -> String {
    let out = tool("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs curl/h2load: .ci/run http stage"]
fn curl_talks_to_the_axum_example_in_http1_and_http2() {
    let (mut server, addr) = start_example();
    let base = format!("http://{addr}");
    assert_eq!(curl(&[&format!("{base}/")]), "Hello, World!");
    let created = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"name":"tea"}"#,
        &format!("{base}/items"),
    ]);
    assert_eq!(created, r#"{"id":1,"name":"tea"}"#);
    // HTTP/2 with prior knowledge; -w prints the protocol version curl used.
    let h2 = curl(&[
        "--http2-prior-knowledge",
        "-w",
        " %{http_version} %{http_code}",
        &format!("{base}/items/1"),
    ]);
    assert_eq!(h2, r#"{"id":1,"name":"tea"} 2 200"#);
    let missing = curl(&["-w", " %{http_code}", &format!("{base}/items/7")]);
    assert_eq!(missing, r#"{"error":"no item 7"} 404"#);
    server.interrupt();
    assert!(server.wait_exit(Duration::from_secs(20)).success());
}

#[test]
#[ignore = "needs curl/h2load: .ci/run http stage"]
fn h2load_gets_every_stream_answered() {
    let (mut server, addr) = start_example();
    let out = tool("h2load")
        .args(["-n", "20000", "-c", "20", "-m", "10"])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "requests: 20000 total, 20000 started, 20000 done, 20000 succeeded, 0 failed"
        ),
        "{text}"
    );
    server.interrupt();
    assert!(server.wait_exit(Duration::from_secs(20)).success());
}

#[test]
#[ignore = "needs wrk: .ci/run http stage"]
fn wrk_gets_every_request_answered() {
    let (mut server, addr) = start_example();
    let out = tool("wrk")
        .args(["-t", "2", "-c", "50", "-d", "1s"])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    // wrk prints "N requests in T, B read", and a line for each kind of failure it saw.
    let requests: u64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    assert!(
        requests >= 100,
        "only {requests} requests in a second:\n{text}"
    );
    assert!(
        !text.contains("Non-2xx or 3xx responses") && !text.contains("Socket errors"),
        "{text}"
    );
    server.interrupt();
    assert!(server.wait_exit(Duration::from_secs(20)).success());
}
