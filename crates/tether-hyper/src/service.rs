//! [`HyperService`]: a hyper `Service` (such as `hyper::service::service_fn`) as the tower
//! `Service` that [`serve`](crate::serve) takes.

use std::task::{Context, Poll};

/// Wraps a hyper [`Service`](hyper::service::Service) so that [`serve`](crate::serve) can
/// serve it: hyper's services take `&self` and are always ready, tower's take `&mut self` after
/// `poll_ready`; this one is always ready and calls the hyper service.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use http_body_util::Full;
/// use hyper::{body::{Bytes, Incoming}, service::service_fn, Request, Response};
/// use tether_hyper::HyperService;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let hello = service_fn(|_req: Request<Incoming>| async {
///         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
///     });
///     let listener = tether::net::TcpListener::bind("127.0.0.1:0").await?;
///     let server = tether_hyper::serve(listener, HyperService(hello));
///     println!("would serve on {}", server.local_addr()?);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HyperService<S>(pub S);

impl<S, R> tower_service::Service<R> for HyperService<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> S::Future {
        self.0.call(req)
    }
}
