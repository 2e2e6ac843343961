//! The `axum` example end to end: the real binary, driven by a hyper client over tether in
//! HTTP/1.1 and HTTP/2 (prior knowledge), then stopped with SIGINT (a graceful shutdown that
//! closes an idle keep-alive connection cleanly).

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use hyper::StatusCode;
use support::child::{example_bin, Running};
use support::{Client, Proto};

fn start_example() -> (Running, SocketAddr) {
    let mut cmd = Command::new(example_bin("axum"));
    cmd.arg("127.0.0.1:0");
    let server = Running::start(cmd, "axum example");
    let line = server.wait_for_line("listening on http://", Duration::from_secs(30));
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("the first line names the address")
        .parse()
        .expect("a socket address");
    (server, addr)
}

async fn exercise(addr: SocketAddr, proto: Proto, name: &str) {
    let mut c = Client::connect(addr, proto).await;

    let hello = c.request("GET", "/", None).await;
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(hello.body, "Hello, World!");

    let body = format!(r#"{{"name":"{name}"}}"#);
    let created = c.request("POST", "/items", Some(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.content_type.as_deref(), Some("application/json"));
    let item: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    assert_eq!(item["name"], name);
    let id = item["id"].as_u64().expect("an id");

    let got = c.request("GET", &format!("/items/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got.body).unwrap(),
        item
    );

    let missing = c.request("GET", "/items/999999", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let err: serde_json::Value = serde_json::from_str(&missing.body).unwrap();
    assert_eq!(err["error"], "no item 999999");

    let bad_json = c.request("POST", "/items", Some("{not json")).await;
    assert!(bad_json.status.is_client_error(), "{bad_json:?}");

    let nowhere = c.request("GET", "/nowhere", None).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    let err: serde_json::Value = serde_json::from_str(&nowhere.body).unwrap();
    assert_eq!(err["error"], "no route for /nowhere");
}

#[test]
fn the_axum_example_serves_http1_and_http2_and_shuts_down_gracefully() {
    let (mut server, addr) = start_example();
    let rt = tether::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        exercise(addr, Proto::Http1, "tea").await;
        exercise(addr, Proto::Http2, "coffee").await;

        // Both items are there, from either protocol.
        let mut c = Client::connect(addr, Proto::Http2).await;
        let all = c.request("GET", "/items", None).await;
        let items: Vec<serde_json::Value> = serde_json::from_str(&all.body).unwrap();
        let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["tea", "coffee"]);
        let stats = c.request("GET", "/stats", None).await;
        let stats: serde_json::Value = serde_json::from_str(&stats.body).unwrap();
        assert_eq!(stats["items"], 2);

        // An idle keep-alive connection is open when the signal comes: it is closed cleanly.
        let mut idle = Client::connect(addr, Proto::Http1).await;
        assert_eq!(idle.request("GET", "/", None).await.status, StatusCode::OK);
        drop(c);
        // The h2 client above has gone: wait until the server has only the idle one.
        tether::time::sleep(Duration::from_millis(100)).await;
        server.interrupt();
    });
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}\n{}", server.output());
    let out = server.stdout_text();
    assert!(out.contains("Ctrl-C: shutting down"), "{out}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("shutdown summary:"))
        .unwrap_or_else(|| panic!("no summary\n{out}"));
    assert!(summary.contains("closed cleanly, 0 cut off"), "{summary}");
}
