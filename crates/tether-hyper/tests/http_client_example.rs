//! The `http_client` example end to end: the real binary fetching from the `axum` example
//! (HTTP/1.1, and HTTP/2 with `--http2`) and from the `https` example (`--cacert` with the
//! certificate it wrote), all on loopback; and its error for a port nothing listens on.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use support::child::{example_bin, wait_bounded, Running};

/// Runs the client with `args`, bounded in time, and returns its output.
fn fetch(args: &[&str]) -> Output {
    let mut child = Command::new(example_bin("http_client"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start http_client");
    // Read the pipes on threads so that a full pipe cannot stall the child.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).unwrap();
        s
    });
    let status = wait_bounded(&mut child, Duration::from_secs(30))
        .expect("http_client did not finish within 30 s (killed)");
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn start(example: &str, prefix: &'static str) -> (Running, String) {
    let mut cmd = Command::new(example_bin(example));
    cmd.arg("127.0.0.1:0");
    let server = Running::start(cmd, "server example");
    let line = server.wait_for_line(prefix, Duration::from_secs(30));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    (server, url)
}

#[test]
fn the_http_client_example_prints_status_headers_and_body_length() {
    let (mut axum, base) = start("axum", "listening on http://");

    let out = fetch(&[&format!("{base}/")]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("GET {base}/"));
    assert_eq!(lines[1], "HTTP/1.1 200 OK");
    assert!(lines.contains(&"content-length: 13"), "{stdout}");
    assert_eq!(lines.last(), Some(&"body: 13 bytes"), "{stdout}");

    let out = fetch(&[&format!("{base}/nowhere"), "--http2"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("HTTP/2.0 404 Not Found"), "{stdout}");
    assert!(
        stdout.contains("content-type: application/json"),
        "{stdout}"
    );

    let (mut https, base) = start("https", "listening on https://");
    let cert = https.wait_for_line("certificate: ", Duration::from_secs(10));
    let cert = cert
        .trim()
        .strip_prefix("certificate: ")
        .unwrap()
        .to_string();
    let out = fetch(&[&format!("{base}/items"), "--cacert", &cert]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("HTTP/2.0 200 OK"), "{stdout}");
    assert!(stdout.ends_with("body: 2 bytes\n"), "{stdout}");

    axum.interrupt();
    https.interrupt();
    assert!(axum.wait_exit(Duration::from_secs(20)).success());
    assert!(https.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn the_http_client_example_reports_a_refused_connection_with_its_address() {
    // A port nothing listens on: bind one, note it, close it.
    let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = fetch(&[&format!("http://{addr}/")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot connect to 127.0.0.1:{}", addr.port()))
            && stderr.contains("Connection refused"),
        "{stderr}"
    );
}
