//! Which public types are `Send`, `Sync`, `Unpin`: a change here is a breaking change.

use tether::diag::{
    Diagnostic, DiagnosticKind, Dump, RuntimeMetrics, ScopeInfo, TaskInfo, TaskState,
};
use tether::net::{tcp, TcpListener, TcpSocket, TcpStream, UdpSocket};
#[cfg(unix)]
use tether::net::{unix, UnixDatagram, UnixListener, UnixStream};
use tether::runtime::{Builder, Handle, Runtime};
use tether::task::{Id, JoinError, JoinHandle};
use tether::time::{Elapsed, Instant, Interval, Sleep, Timeout};

fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn runtime_types_are_send_and_sync() {
    send_sync::<Runtime>();
    send_sync::<Handle>();
    send_sync::<Builder>();
}

#[test]
fn diag_types_are_send_and_sync() {
    send_sync::<RuntimeMetrics>();
    send_sync::<Dump>();
    send_sync::<Diagnostic>();
    send_sync::<DiagnosticKind>();
    send_sync::<TaskInfo>();
    send_sync::<TaskState>();
    send_sync::<ScopeInfo>();
}

/// `RuntimeMetrics` is also reachable where tokio has it.
#[allow(dead_code)]
fn runtime_metrics_at_the_tokio_path(m: tether::runtime::RuntimeMetrics) -> RuntimeMetrics {
    m
}

#[test]
fn task_types_are_send_and_sync() {
    send_sync::<JoinHandle<u32>>();
    send_sync::<JoinError>();
    send_sync::<Id>();
    unpin::<JoinHandle<std::rc::Rc<u8>>>();
}

#[test]
fn time_types_are_send_sync_and_unpin() {
    send_sync::<Sleep>();
    send_sync::<Interval>();
    send_sync::<Instant>();
    send_sync::<Elapsed>();
    send_sync::<Timeout<Sleep>>();
    unpin::<Sleep>();
    unpin::<Interval>();
}

#[test]
fn net_types_are_send_sync_and_unpin() {
    send_sync::<TcpListener>();
    send_sync::<TcpStream>();
    send_sync::<UdpSocket>();
    send_sync::<tcp::OwnedReadHalf>();
    send_sync::<tcp::OwnedWriteHalf>();
    send_sync::<tcp::ReadHalf<'static>>();
    send_sync::<TcpSocket>();
    unpin::<TcpStream>();
    #[cfg(unix)]
    {
        send_sync::<UnixListener>();
        send_sync::<UnixStream>();
        send_sync::<unix::OwnedReadHalf>();
        send_sync::<unix::OwnedWriteHalf>();
        send_sync::<UnixDatagram>();
        unpin::<UnixStream>();
        unpin::<UnixDatagram>();
    }
}

#[test]
fn io_types_are_send_sync_and_unpin() {
    use tether::io::{
        BufReader, BufStream, BufWriter, Interest, Lines, ReadHalf, ReadNum, Ready, Split,
        WriteHalf, WriteNum,
    };
    send_sync::<Interest>();
    send_sync::<Ready>();
    send_sync::<ReadHalf<TcpStream>>();
    send_sync::<WriteHalf<TcpStream>>();
    unpin::<ReadHalf<std::marker::PhantomPinned>>();
    send_sync::<BufReader<TcpStream>>();
    send_sync::<BufWriter<TcpStream>>();
    send_sync::<BufStream<TcpStream>>();
    unpin::<BufStream<TcpStream>>();
    send_sync::<Lines<BufReader<TcpStream>>>();
    send_sync::<Split<BufReader<TcpStream>>>();
    send_sync::<ReadNum<'static, TcpStream, u32>>();
    send_sync::<WriteNum<'static, TcpStream>>();
    unpin::<ReadNum<'static, std::marker::PhantomPinned, u32>>();
    send_sync::<tether::io::Empty>();
    send_sync::<tether::io::Repeat>();
    send_sync::<tether::io::Sink>();
    unpin::<tether::io::Empty>();
    unpin::<tether::io::Repeat>();
    unpin::<tether::io::Sink>();
    send_sync::<tether::io::ReadLine<'static, BufReader<TcpStream>>>();
    send_sync::<tether::io::ReadToString<'static, TcpStream>>();
    send_sync::<tether::io::FillBuf<'static, BufReader<TcpStream>>>();
}

#[test]
fn structured_concurrency_types_are_send_and_sync() {
    send_sync::<tether::scope::Scope<String>>();
    send_sync::<tether::scope::CancelToken>();
    send_sync::<tether::scope::ScopeError<String>>();
    send_sync::<tether::scope::ScopeTask<u32>>();
    send_sync::<tether::task::AbortHandle>();
    send_sync::<tether::future::Promise<u32, String>>();
    unpin::<tether::scope::ScopeTask<u32>>();
}

#[test]
fn surface_types_are_send_and_sync() {
    send_sync::<tether::fs::File>();
    #[cfg(unix)]
    {
        send_sync::<tether::process::Child>();
        send_sync::<tether::process::Command>();
        send_sync::<tether::process::ChildStdin>();
        send_sync::<tether::process::ChildStdout>();
        send_sync::<tether::signal::unix::Signal>();
    }
    send_sync::<tether::io::DuplexStream>();
    unpin::<tether::fs::File>();
    unpin::<tether::io::DuplexStream>();
}
