//! A gRPC service with tonic, served by tether over HTTP/2, and a client calling it:
//! `cargo run --release -p tether-hyper --example grpc` starts the server on a free loopback
//! port (the first line printed is `listening on http://ADDR`), makes a unary call and a
//! server-streaming call, prints the replies and shuts the server down.
//! `cargo run --release -p tether-hyper --example grpc -- --serve [ADDR]` only serves (default
//! `127.0.0.1:50051`) until Ctrl-C.
//!
//! The service (`helloworld.Greeter`) and its client are in `examples/greeter/mod.rs`, written
//! the way `tonic-build` would generate them (no `protoc` needed). The server is
//! `tether_hyper::serve(listener, routes)`: tonic's `Routes` are a tower service. The client is
//! tonic's `Grpc` over `tether_hyper::Client` with HTTP/2 prior knowledge: tonic's own
//! `Channel` is not used (it needs tokio's runtime; `tether::compat` could run it, at the cost
//! of a background tokio runtime and a thread hop per call).
//!
//! ```text
//! $ grpcurl -plaintext -import-path . -proto helloworld.proto -d '{"name":"tether"}' \
//!     127.0.0.1:50051 helloworld.Greeter/SayHello
//! ```

mod greeter;

use std::convert::Infallible;
use std::future::IntoFuture;

use greeter::{GreeterClient, HelloRequest};

#[tether::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--serve") => {
            let addr = args.get(1).map_or("127.0.0.1:50051", String::as_str);
            serve(addr).await?;
        }
        None => call_and_print().await?,
        Some(_) => {
            eprintln!("usage: grpc [--serve [ADDR]]");
            std::process::exit(2);
        }
    }
    Ok(())
}

/// `--serve`: the Greeter until Ctrl-C.
async fn serve(addr: &str) -> std::io::Result<()> {
    let listener = tether::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let summary = tether_hyper::serve(listener, greeter::routes())
        .with_graceful_shutdown(async {
            let _ = tether::signal::ctrl_c().await;
            println!("Ctrl-C: shutting down");
        })
        .await;
    println!("{summary}");
    Ok(())
}

/// The default: serve on a free port, call it, print the replies, stop.
async fn call_and_print() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tether::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    let (stop, stopped) = tether::sync::oneshot::channel::<()>();
    let server = tether::spawn(
        tether_hyper::serve(listener, greeter::routes())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let calls = tether::scope::scope(|s| async move {
        // gRPC is HTTP/2: the client speaks it from the first byte.
        let http = tether_hyper::Client::builder()
            .http2_prior_knowledge()
            .build_in(&s);
        let mut client = GreeterClient::new(http, format!("http://{addr}").parse().unwrap());
        Ok::<_, Infallible>(run_calls(&mut client).await)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string().into()));

    let _ = stop.send(());
    let summary = server.await?;
    println!("{summary}");
    calls
}

async fn run_calls(
    client: &mut GreeterClient,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let reply = client
        .say_hello(HelloRequest {
            name: "tether".into(),
            count: 0,
        })
        .await?;
    println!("SayHello: {}", reply.message);

    let mut replies = client
        .say_hellos(HelloRequest {
            name: "tether".into(),
            count: 3,
        })
        .await?;
    while let Some(reply) = replies.message().await? {
        println!("SayHellos: {}", reply.message);
    }

    let err = client
        .say_hello(HelloRequest::default())
        .await
        .expect_err("an empty name is refused");
    println!("SayHello with no name: {:?}: {}", err.code(), err.message());
    Ok(())
}
