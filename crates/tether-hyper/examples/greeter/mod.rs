//! A gRPC `helloworld.Greeter` service and its client, for the `grpc` example (and its test).
//!
//! This is what `tonic-build` would generate from the `.proto` below, written by hand so that
//! the build needs no `protoc`: the messages are prost structs, the server is a tower service
//! that tonic's `Routes` (and so `tether_hyper::serve`) can serve, and the client is tonic's
//! `Grpc` over `tether_hyper::Client` speaking HTTP/2 with prior knowledge: no tokio runtime,
//! no `tether::compat`.
//!
//! ```text
//! syntax = "proto3";
//! package helloworld;
//! service Greeter {
//!   rpc SayHello (HelloRequest) returns (HelloReply);
//!   rpc SayHellos (HelloRequest) returns (stream HelloReply);
//! }
//! message HelloRequest { string name = 1; uint32 count = 2; }
//! message HelloReply { string message = 1; }
//! ```
#![allow(dead_code)] // the example and its test each use part of it

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::server::{NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// `HelloRequest`: who to greet, and how many greetings to stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

/// `HelloReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

/// The service's logic: what a user of tonic writes.
#[derive(Default)]
pub struct Greeter {
    greeted: AtomicU64,
}

/// At most this many greetings per `SayHellos`.
pub const MAX_GREETINGS: u32 = 100;

impl Greeter {
    async fn say_hello(&self, req: HelloRequest) -> Result<HelloReply, Status> {
        if req.name.is_empty() {
            return Err(Status::invalid_argument("name is empty"));
        }
        let n = self.greeted.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(HelloReply {
            message: format!("Hello, {}! (greeting #{n})", req.name),
        })
    }

    /// `count` greetings, 10 ms apart, from a task of their own.
    fn say_hellos(
        &self,
        req: HelloRequest,
    ) -> Result<tether::sync::mpsc::Receiver<Result<HelloReply, Status>>, Status> {
        if req.count > MAX_GREETINGS {
            return Err(Status::invalid_argument(format!(
                "count {} is over {MAX_GREETINGS}",
                req.count
            )));
        }
        let (tx, rx) = tether::sync::mpsc::channel(4);
        tether::task::Builder::new()
            .name("grpc-say-hellos")
            .spawn(async move {
                for i in 1..=req.count {
                    let reply = HelloReply {
                        message: format!("Hello #{i} of {}, {}!", req.count, req.name),
                    };
                    if tx.send(Ok(reply)).await.is_err() {
                        return; // the client went away
                    }
                    tether::time::sleep(Duration::from_millis(10)).await;
                }
            });
        Ok(rx)
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The server side of `helloworld.Greeter` (what `tonic-build` generates as `GreeterServer`).
#[derive(Clone, Default)]
pub struct GreeterServer {
    inner: Arc<Greeter>,
}

impl NamedService for GreeterServer {
    const NAME: &'static str = "helloworld.Greeter";
}

impl tower_service::Service<http::Request<Body>> for GreeterServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        match req.uri().path() {
            "/helloworld.Greeter/SayHello" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.unary(SayHello(inner), req).await)
            }),
            "/helloworld.Greeter/SayHellos" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.server_streaming(SayHellos(inner), req).await)
            }),
            _ => Box::pin(async move {
                let (parts, ()) = Status::unimplemented("no such method")
                    .into_http::<()>()
                    .into_parts();
                Ok(http::Response::from_parts(parts, Body::empty()))
            }),
        }
    }
}

struct SayHello(Arc<Greeter>);

impl UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = BoxFuture<Result<Response<HelloReply>, Status>>;

    fn call(&mut self, req: Request<HelloRequest>) -> Self::Future {
        let greeter = self.0.clone();
        Box::pin(async move { greeter.say_hello(req.into_inner()).await.map(Response::new) })
    }
}

struct SayHellos(Arc<Greeter>);

impl ServerStreamingService<HelloRequest> for SayHellos {
    type Response = HelloReply;
    type ResponseStream = tether::sync::mpsc::Receiver<Result<HelloReply, Status>>;
    type Future = BoxFuture<Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, req: Request<HelloRequest>) -> Self::Future {
        let greeter = self.0.clone();
        Box::pin(async move { greeter.say_hellos(req.into_inner()).map(Response::new) })
    }
}

/// The client side of `helloworld.Greeter` (what `tonic-build` generates as `GreeterClient`),
/// over `tether_hyper::Client`.
#[derive(Clone)]
pub struct GreeterClient {
    inner: tonic::client::Grpc<tether_hyper::Client<Body>>,
}

impl GreeterClient {
    /// A client of the server at `origin` (`http://host:port`), sending its calls through
    /// `client` (which must speak HTTP/2: gRPC needs it).
    pub fn new(client: tether_hyper::Client<Body>, origin: http::Uri) -> GreeterClient {
        GreeterClient {
            inner: tonic::client::Grpc::with_origin(client, origin),
        }
    }

    /// `SayHello`.
    pub async fn say_hello(&mut self, req: HelloRequest) -> Result<HelloReply, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path = PathAndQuery::from_static("/helloworld.Greeter/SayHello");
        let res = self
            .inner
            .unary(Request::new(req), path, ProstCodec::default())
            .await?;
        Ok(res.into_inner())
    }

    /// `SayHellos`: the stream of replies.
    pub async fn say_hellos(&mut self, req: HelloRequest) -> Result<Streaming<HelloReply>, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path = PathAndQuery::from_static("/helloworld.Greeter/SayHellos");
        let res = self
            .inner
            .server_streaming(Request::new(req), path, ProstCodec::default())
            .await?;
        Ok(res.into_inner())
    }

    /// A method the server does not have (to show the `Unimplemented` status).
    pub async fn say_goodbye(&mut self, req: HelloRequest) -> Result<HelloReply, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path = PathAndQuery::from_static("/helloworld.Greeter/SayGoodbye");
        let res = self
            .inner
            .unary(Request::new(req), path, ProstCodec::default())
            .await?;
        Ok(res.into_inner())
    }
}

/// The routes to serve: tonic's `Routes` are a tower service of `http::Request<B>`, which
/// `tether_hyper::serve` takes as it is.
pub fn routes() -> tonic::service::Routes {
    tonic::service::Routes::new(GreeterServer::default()).prepare()
}
