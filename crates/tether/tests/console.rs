//! The live console (feature `console`) against live runtimes: the JSON API, the SSE stream,
//! the blocked task in the stream's stall list, the console answering while the runtime's only
//! thread is blocked, a stuck viewer not slowing anyone, the loopback refusal and Host guard,
//! the HTTP limits, and that nothing runs without `Builder::console`.
//!
//! The clients here are plain blocking `std::net` sockets on the test's thread: the console
//! serves from its own thread, which is the point.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::bounded::{wait_until, within};
use tether::runtime::{Builder, Runtime};

/// The bound on any wait here: a hang fails, timing never decides.
const LIMIT: Duration = Duration::from_secs(30);

fn builders() -> Vec<(&'static str, Builder)> {
    let mut mt = Builder::new_multi_thread();
    mt.worker_threads(2);
    vec![
        ("current_thread", Builder::new_current_thread()),
        ("multi_thread", mt),
    ]
}

fn with_console(mut b: Builder) -> Runtime {
    b.console("127.0.0.1:0")
        .quiet()
        .watchdog_limit(Duration::from_millis(50))
        .slow_poll_threshold(Duration::from_millis(20))
        .build()
        .unwrap()
}

/// One request on a fresh connection (`Connection: close`); returns the status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

fn request(addr: SocketAddr, raw: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn snapshot(addr: SocketAddr) -> Value {
    let (status, body) = get(addr, "/api/snapshot");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// A viewer of `/api/stream`, reading events on the test's thread.
struct Viewer {
    lines: BufReader<TcpStream>,
}

impl Viewer {
    fn connect(addr: SocketAddr) -> Viewer {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        write!(
            s,
            "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut lines = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            lines.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Type: text/event-stream"), "{head}");
        Viewer { lines }
    }

    /// The next snapshot event's document.
    fn next(&mut self) -> Value {
        loop {
            let mut line = String::new();
            assert_ne!(
                self.lines.read_line(&mut line).unwrap(),
                0,
                "the stream ended"
            );
            if let Some(data) = line.strip_prefix("data: ") {
                return serde_json::from_str(data.trim_end()).unwrap();
            }
        }
    }
}

fn task_named<'a>(snap: &'a Value, name: &str) -> Option<&'a Value> {
    snap["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
}

#[test]
fn snapshot_shows_the_tree_on_both_flavors() {
    for (flavor, b) in builders() {
        within(LIMIT, flavor, move || {
            let rt = with_console(b);
            let addr = rt.console_addr().unwrap();
            assert!(addr.ip().is_loopback() && addr.port() != 0);
            rt.block_on(async {
                tether::task::Builder::new()
                    .name("server \"main\"\n")
                    .spawn(async {
                        tether::scope::scope(|s| async move {
                            s.spawn_named("conn", std::future::pending::<Result<(), ()>>())
                                .await;
                            std::future::pending::<Result<(), ()>>().await
                        })
                        .await
                    });
                let mut set = tether::task::JoinSet::new();
                set.spawn(std::future::pending::<()>());
                tether::task::Builder::new()
                    .name("owner")
                    .spawn(async move {
                        let _set = set;
                        std::future::pending::<()>().await
                    });
                tether::time::sleep(Duration::from_millis(10)).await;
            });
            let snap = snapshot(addr);
            assert_eq!(snap["version"], 1);
            assert_eq!(
                snap["runtime"]["flavor"],
                if flavor == "current_thread" {
                    "current-thread"
                } else {
                    "multi-thread"
                }
            );
            // The escaped name comes back as it was.
            let server = task_named(&snap, "server \"main\"\n").expect("the server task");
            assert_eq!(server["kind"], "root");
            assert!(server["location"]
                .as_str()
                .unwrap()
                .contains("tests/console.rs:"));
            let conn = task_named(&snap, "conn").expect("the scope's child");
            assert_eq!(conn["kind"], "child");
            let scope = &snap["scopes"].as_array().unwrap()[0];
            assert_eq!(scope["id"], conn["scope"]);
            assert_eq!(scope["owner"], server["id"]);
            assert_eq!(scope["children"], 1);
            let set = &snap["join_sets"].as_array().unwrap()[0];
            assert_eq!(set["tasks"], 1);
            assert_eq!(snap["metrics"]["live_tasks"], 4);
            assert_eq!(
                snap["tasks"].as_array().unwrap().len(),
                4,
                "no task of the console's"
            );

            // One task's detail, with its scope path.
            let (status, body) = get(addr, &format!("/api/tasks/{}", conn["id"]));
            assert_eq!(status, 200, "{body}");
            let detail: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(detail["task"]["name"], "conn");
            assert_eq!(detail["poll_histogram"].as_array().unwrap().len(), 22);
            let path = detail["scope_path"].as_array().unwrap();
            assert_eq!(path.len(), 1);
            assert_eq!(path[0]["kind"], "scope");
            assert_eq!(path[0]["owner"], server["id"]);
            assert_eq!(get(addr, "/api/tasks/999999999").0, 404);
        });
    }
}

#[test]
fn the_stream_lists_a_blocked_task_in_its_stalls_on_both_flavors() {
    for (flavor, b) in builders() {
        within(LIMIT, flavor, move || {
            let rt = with_console(b);
            let addr = rt.console_addr().unwrap();
            let mut viewer = Viewer::connect(addr);
            let first = viewer.next();
            assert_eq!(first["dropped_frames"], 0);
            assert_eq!(first["console"]["viewers"].as_array().unwrap().len(), 1);
            rt.block_on(async {
                tether::task::Builder::new().name("blocked").spawn(async {
                    // Blocks its worker on purpose: the watchdog reports it while it blocks.
                    std::thread::sleep(Duration::from_millis(300));
                    // Then stays, so that its detail can be read.
                    std::future::pending::<()>().await
                });
                tether::time::sleep(Duration::from_millis(400)).await;
            });
            let mut seen = Vec::new();
            let stall = loop {
                let frame = viewer.next();
                let stalls = frame["stalls"].as_array().unwrap();
                if let Some(s) = stalls.iter().find(|s| s["task_name"] == "blocked") {
                    break s.clone();
                }
                seen.push(frame["seq"].clone());
            };
            assert!(
                stall["kind"] == "still_running" || stall["kind"] == "slow_poll",
                "{stall}"
            );
            assert!(stall["duration_us"].as_u64().unwrap() >= 50_000, "{stall}");
            assert!(stall["task_id"].is_u64());
            assert!(stall["location"]
                .as_str()
                .unwrap()
                .contains("tests/console.rs:"));
            // The slow poll is in the task's poll statistics, sampled or not.
            let path = format!("/api/tasks/{}", stall["task_id"]);
            wait_until("the slow poll in the task's histogram", LIMIT, || {
                let (status, body) = get(addr, &path);
                assert_eq!(status, 200, "{body}");
                let d: Value = serde_json::from_str(&body).unwrap();
                d["task"]["max_poll_us"]
                    .as_u64()
                    .is_some_and(|us| us >= 250_000)
                    && d["timed_polls"].as_u64() >= Some(1)
            });
        });
    }
}

/// The current-thread runtime's only thread is blocked in a task; the console still answers,
/// and shows that task running and the watchdog's report about it.
#[test]
fn the_console_answers_while_the_runtime_is_blocked() {
    within(LIMIT, "blocked current-thread runtime", || {
        let rt = with_console(Builder::new_current_thread());
        let addr = rt.console_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let looker = std::thread::spawn(move || {
            started_rx.recv().unwrap();
            let mut found = None;
            wait_until("the blocked task running, and its stall", LIMIT, || {
                let snap = snapshot(addr);
                let running = task_named(&snap, "stuck").is_some_and(|t| t["state"] == "running");
                let reported = snap["stalls"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["kind"] == "still_running" && s["task_name"] == "stuck");
                if running && reported {
                    found = Some(snap);
                }
                found.is_some()
            });
            tx.send(()).unwrap();
        });
        rt.block_on(async move {
            tether::task::Builder::new()
                .name("stuck")
                .spawn(async move {
                    started_tx.send(()).unwrap();
                    // The whole runtime waits here until the looker saw it: a blocked worker.
                    rx.recv().unwrap();
                })
                .await
                .unwrap();
        });
        looker.join().unwrap();
    });
}

/// A viewer that never reads loses frames (counted), while the runtime and another viewer go
/// on.
#[test]
fn a_stuck_viewer_slows_nobody() {
    within(Duration::from_secs(60), "stuck viewer", || {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(2);
        let rt = with_console(b);
        let addr = rt.console_addr().unwrap();
        let ticks = Arc::new(AtomicU64::new(0));
        let t = ticks.clone();
        rt.block_on(async move {
            // Big frames (a few hundred KiB), so that the socket buffers fill soon.
            for _ in 0..3000 {
                tether::task::Builder::new()
                    .name("idle")
                    .spawn(std::future::pending::<()>());
            }
            tether::task::Builder::new()
                .name("ticker")
                .spawn(async move {
                    loop {
                        t.fetch_add(1, Ordering::Relaxed);
                        tether::time::sleep(Duration::from_millis(1)).await;
                    }
                });
        });
        // Connects and never reads again.
        let stuck = Viewer::connect(addr);
        let mut healthy = Viewer::connect(addr);
        let mut stuck_dropped = 0;
        let mut ticks_then = 0;
        wait_until(
            "the stuck viewer's frames to be dropped",
            Duration::from_secs(50),
            || {
                let frame = healthy.next();
                let viewers = frame["console"]["viewers"].as_array().unwrap();
                stuck_dropped = viewers
                    .iter()
                    .map(|v| v["dropped_frames"].as_u64().unwrap())
                    .max()
                    .unwrap();
                ticks_then = ticks.load(Ordering::Relaxed);
                stuck_dropped >= 3
            },
        );
        // After the stuck viewer lost frames, the runtime still ticks and the healthy viewer
        // still gets every new frame.
        let before = healthy.next()["seq"].as_u64().unwrap();
        let after = healthy.next()["seq"].as_u64().unwrap();
        assert!(after > before);
        wait_until("the runtime to keep ticking", LIMIT, || {
            ticks.load(Ordering::Relaxed) > ticks_then + 10
        });
        drop(stuck);
    });
}

#[test]
fn a_non_loopback_address_is_refused_without_the_opt_in() {
    let err = Builder::new_current_thread()
        .console("0.0.0.0:0")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(msg.contains("not a loopback address"), "{msg}");
    assert!(msg.contains("console_allow_remote(true)"), "{msg}");

    let rt = Builder::new_current_thread()
        .console("0.0.0.0:0")
        .console_allow_remote(true)
        .quiet()
        .build()
        .unwrap();
    let port = rt.console_addr().unwrap().port();
    let local: SocketAddr = ([127, 0, 0, 1], port).into();
    // Remote access allowed: any Host is served.
    let raw = "GET /api/snapshot HTTP/1.1\r\nHost: console.example\r\nConnection: close\r\n\r\n";
    assert_eq!(request(local, raw).0, 200);

    let err = Builder::new_current_thread()
        .console_allow_remote(true)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("without Builder::console(addr)"),
        "{err}"
    );

    let err = Builder::new_current_thread()
        .console("no such host name.invalid:1")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("does not resolve"), "{err}");
}

#[test]
fn requests_naming_another_host_are_refused_on_loopback() {
    let rt = with_console(Builder::new_current_thread());
    let addr = rt.console_addr().unwrap();
    let raw = "GET /api/snapshot HTTP/1.1\r\nHost: rebound.example:80\r\nConnection: close\r\n\r\n";
    let (status, body) = request(addr, raw);
    assert_eq!(status, 403, "{body}");
    let raw = "GET /api/snapshot HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_eq!(request(addr, raw).0, 403, "no Host at all");
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        addr.port()
    );
    let (status, page) = request(addr, &raw);
    assert_eq!(status, 200);
    assert!(page.contains("<title>tether console</title>"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external resource"
    );
}

#[test]
fn read_only_and_bounded_http() {
    let rt = with_console(Builder::new_current_thread());
    let addr = rt.console_addr().unwrap();
    let h = format!("Host: {addr}\r\n");
    let raw =
        format!("POST /api/snapshot HTTP/1.1\r\n{h}Content-Length: 0\r\nConnection: close\r\n\r\n");
    let (status, _) = request(addr, &raw);
    assert_eq!(status, 405);
    let raw = format!("DELETE / HTTP/1.1\r\n{h}\r\n");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 405"));
    assert!(out.contains("Allow: GET, HEAD\r\n"), "{out}");
    assert_eq!(get(addr, "/nothing/here").0, 404);
    assert_eq!(request(addr, "GET / HTTP/1.1\r\nno colon\r\n\r\n").0, 400);
    assert_eq!(request(addr, &format!("GET / HTTP/2\r\n{h}\r\n")).0, 505);
    let huge = format!("GET / HTTP/1.1\r\n{h}X-Pad: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(request(addr, &huge).0, 431);

    // Keep-alive: two pipelined requests on one connection, both answered, then HEAD.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let two = format!(
        "GET /api/snapshot HTTP/1.1\r\n{h}\r\nHEAD / HTTP/1.1\r\n{h}Connection: close\r\n\r\n"
    );
    s.write_all(two.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    assert!(out.contains("Connection: keep-alive"));
    assert!(
        out.ends_with("Connection: close\r\n\r\n"),
        "HEAD has no body"
    );
}

#[test]
fn nothing_runs_without_the_console_call() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("nc")
        .build()
        .unwrap();
    assert_eq!(rt.console_addr(), None);
    assert_eq!(rt.handle().console_addr(), None);
    #[cfg(target_os = "linux")]
    {
        let names = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        };
        // A thread names itself once it runs: wait for the runtime's own threads' names.
        wait_until("the runtime's threads to be named", LIMIT, || {
            names().iter().any(|n| n == "nc-watchdog")
        });
        assert!(!names().iter().any(|n| n == "nc-console"), "{:?}", names());
    }
}

#[test]
fn the_console_stops_with_its_runtime() {
    let rt = with_console(Builder::new_current_thread());
    let addr = rt.console_addr().unwrap();
    let mut viewer = Viewer::connect(addr);
    viewer.next();
    drop(rt);
    // The stream ends (its connection closed by the console's shutdown)...
    let mut rest = String::new();
    let _ = viewer.lines.read_to_string(&mut rest);
    // ...and the port no longer takes connections.
    assert!(TcpStream::connect(addr).is_err());
}

/// Every status line in a response stream, in order.
fn statuses(out: &str) -> Vec<u16> {
    out.match_indices("HTTP/1.1 ")
        .map(|(i, _)| out[i + 9..i + 12].parse().unwrap())
        .collect()
}

fn exchange(addr: SocketAddr, raw: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn a_header_a_proxy_could_read_otherwise_is_refused() {
    let rt = with_console(Builder::new_current_thread());
    let addr = rt.console_addr().unwrap();
    // Whitespace before the colon hid the length: the body was served as a second request.
    let body = format!("GET /api/snapshot HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let raw = format!(
        "GET /x HTTP/1.1\r\nHost: {addr}\r\nContent-Length : {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(statuses(&exchange(addr, &raw)), [400]);
    let raw = format!(
        "GET /x HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding : chunked\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(statuses(&exchange(addr, &raw)), [400]);
    // A second Host.
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nHost: rebound.example\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(statuses(&exchange(addr, &raw)), [400]);
    // A loopback name followed by something else.
    let raw = "GET / HTTP/1.1\r\nHost: [::1]evil.example\r\nConnection: close\r\n\r\n";
    assert_eq!(statuses(&exchange(addr, raw)), [403]);
}

#[test]
fn a_head_ending_in_lf_is_not_merged_with_a_pipelined_one() {
    let rt = with_console(Builder::new_current_thread());
    let addr = rt.console_addr().unwrap();
    let raw = format!(
        "GET /x HTTP/1.1\nHost: {addr}\n\nGET /api/tasks/1?at=1:2 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        statuses(&exchange(addr, &raw)),
        [404, 404],
        "two requests, two answers"
    );
}

#[test]
fn the_host_guard_holds_on_loopback_even_with_remote_access_allowed() {
    let rt = Builder::new_current_thread()
        .console("127.0.0.1:0")
        .console_allow_remote(true)
        .quiet()
        .build()
        .unwrap();
    let addr = rt.console_addr().unwrap();
    let raw = "GET /api/snapshot HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n";
    assert_eq!(request(addr, raw).0, 403);
    assert_eq!(get(addr, "/api/snapshot").0, 200);
}

#[test]
fn a_live_task_past_the_listed_ones_has_its_detail() {
    let rt = with_console(Builder::new_current_thread());
    let addr = rt.console_addr().unwrap();
    let handles: Vec<_> = rt.block_on(async {
        (0..20_100)
            .map(|_| tether::spawn(std::future::pending::<()>()))
            .collect()
    });
    let snap = snapshot(addr);
    assert_eq!(snap["tasks_truncated"], true);
    let listed: std::collections::HashSet<u64> = snap["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    let h = handles
        .iter()
        .find(|h| !listed.contains(&h.id().as_u64()))
        .expect("a live task the snapshot does not list");
    let (status, body) = get(addr, &format!("/api/tasks/{}", h.id().as_u64()));
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["task"]["id"].as_u64(), Some(h.id().as_u64()));
    // A lookup of an unlisted id runs at most every 100 ms: a 404 (no such task) or, if one ran
    // just before, a 503 that says to retry; never a 200.
    let gone = u64::MAX - 1;
    let (status, body) = get(addr, &format!("/api/tasks/{gone}"));
    assert!(status == 404 || status == 503, "{status} {body}");
    drop(handles);
}
