//! The `grpc` example end to end: the real binary in its default mode (server and client in one
//! process, replies printed), then in `--serve` mode called from here by the same tonic client
//! over `tether_hyper::Client` (unary, server-streaming, an error status, an unknown method),
//! then stopped with SIGINT.

#[path = "../examples/greeter/mod.rs"]
mod greeter;
mod support;

use std::process::Command;
use std::time::Duration;

use greeter::{GreeterClient, HelloRequest};
use support::child::{example_bin, Running};

#[test]
fn the_grpc_example_calls_its_own_server_and_prints_the_replies() {
    let mut run = Running::start(Command::new(example_bin("grpc")), "grpc example");
    let status = run.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit {status:?}\n{}", run.output());
    let out = run.stdout_text();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("listening on http://127.0.0.1:"),
        "{out}"
    );
    assert_eq!(
        lines[1..6],
        [
            "SayHello: Hello, tether! (greeting #1)",
            "SayHellos: Hello #1 of 3, tether!",
            "SayHellos: Hello #2 of 3, tether!",
            "SayHellos: Hello #3 of 3, tether!",
            "SayHello with no name: InvalidArgument: name is empty",
        ],
        "{out}"
    );
    assert!(lines[6].contains("0 cut off"), "{out}");
}

#[test]
fn the_grpc_example_serves_a_tonic_client_over_tether() {
    let mut cmd = Command::new(example_bin("grpc"));
    cmd.args(["--serve", "127.0.0.1:0"]);
    let mut server = Running::start(cmd, "grpc server");
    let line = server.wait_for_line("listening on http://", Duration::from_secs(30));
    let origin: http::Uri = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();

    let rt = tether::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = tether_hyper::Client::builder()
            .http2_prior_knowledge()
            .build();
        let mut client = GreeterClient::new(http, origin);

        let hello = |name: &str, count| HelloRequest {
            name: name.to_string(),
            count,
        };
        let reply = client.say_hello(hello("test", 0)).await.unwrap();
        assert_eq!(reply.message, "Hello, test! (greeting #1)");

        // Two calls at once on the one HTTP/2 connection.
        let mut other = client.clone();
        let (a, b) = tether::join!(
            client.say_hello(hello("a", 0)),
            other.say_hello(hello("b", 0))
        );
        assert!(a.unwrap().message.starts_with("Hello, a!"));
        assert!(b.unwrap().message.starts_with("Hello, b!"));

        let mut stream = client.say_hellos(hello("stream", 5)).await.unwrap();
        let mut got = Vec::new();
        while let Some(reply) = stream.message().await.unwrap() {
            got.push(reply.message);
        }
        let want: Vec<String> = (1..=5)
            .map(|i| format!("Hello #{i} of 5, stream!"))
            .collect();
        assert_eq!(got, want);

        let err = client.say_hellos(hello("many", 1000)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert_eq!(err.message(), "count 1000 is over 100");

        let err = client.say_goodbye(hello("x", 0)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
    });
    drop(rt);
    server.interrupt();
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}\n{}", server.output());
    let out = server.stdout_text();
    assert!(out.contains("Ctrl-C: shutting down"), "{out}");
    assert!(out.contains("0 cut off"), "{out}");
}
