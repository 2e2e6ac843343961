//! The chat server (`chat` binary, the tokio tutorial pattern ported by renaming imports) as a
//! child process, talked to by plain std sockets: a line from one client reaches every other
//! client with the sender's address, never the sender itself, and a client that leaves does
//! not disturb the others; a client that floods a line is dropped alone, a line that is not
//! UTF-8 is passed on, and running out of descriptors does not end the server. Every wait is
//! bounded by a real-time limit.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use support::child::{chat_bin, Running};

const LIMIT: Duration = Duration::from_secs(20);

/// A client connection with a line reader, bounded by `LIMIT` per read.
struct Client {
    stream: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the chat server");
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        let lines = BufReader::new(stream.try_clone().unwrap());
        Client { stream, lines }
    }

    fn say(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.lines
            .read_line(&mut line)
            .expect("a line within the limit");
        line.trim_end().to_string()
    }

    fn local(&self) -> String {
        self.stream.local_addr().unwrap().to_string()
    }
}

#[test]
fn a_line_reaches_every_other_client_with_the_senders_address() {
    let mut cmd = Command::new(chat_bin());
    cmd.arg("127.0.0.1:0");
    let server = Running::start(cmd, "chat");
    let line = server.wait_for_line("listening on ", LIMIT);
    let addr = line.trim().trim_start_matches("listening on ").to_string();

    let mut a = Client::connect(&addr);
    let mut b = Client::connect(&addr);
    let mut c = Client::connect(&addr);
    // The server prints "<peer> joined" once it has subscribed that client: wait for all three,
    // so no message is sent before a client can receive it.
    for client in [&a, &b, &c] {
        server.wait_for_line(&format!("{} joined", client.local()), LIMIT);
    }

    a.say("hello from a");
    let from_a = format!("{}: hello from a", a.local());
    assert_eq!(b.next_line(), from_a);
    assert_eq!(c.next_line(), from_a);

    b.say("and b");
    let from_b = format!("{}: and b", b.local());
    // `a` never sees its own line: the first line it gets is b's.
    assert_eq!(a.next_line(), from_b);
    assert_eq!(c.next_line(), from_b);

    // A client that leaves is noticed, and the others go on.
    let gone = c.local();
    drop(c);
    server.wait_for_line(&format!("{gone} left"), LIMIT);
    a.say("still here");
    assert_eq!(b.next_line(), format!("{}: still here", a.local()));
}

/// Starts the chat server on a free loopback port; gives it and its address.
fn start_chat(mut cmd: Command) -> (Running, String) {
    cmd.arg("127.0.0.1:0");
    let server = Running::start(cmd, "chat");
    let line = server.wait_for_line("listening on ", LIMIT);
    let addr = line.trim().trim_start_matches("listening on ").to_string();
    (server, addr)
}

/// A client that sends a line longer than the server's limit is disconnected, and only that
/// client: the tutorial's server kept appending (one client could grow it by the line's size
/// times the number of clients).
#[test]
fn a_line_over_the_limit_disconnects_only_its_client() {
    let (server, addr) = start_chat(Command::new(chat_bin()));
    let mut a = Client::connect(&addr);
    let mut b = Client::connect(&addr);
    for client in [&a, &b] {
        server.wait_for_line(&format!("{} joined", client.local()), LIMIT);
    }
    let flooder = a.local();
    a.stream.write_all(&vec![b'x'; 20_000]).unwrap();
    server.wait_for_line(&format!("{flooder} left"), LIMIT);
    let mut rest = String::new();
    let n = a.lines.read_line(&mut rest).unwrap_or(0);
    assert_eq!(n, 0, "the flooding client is disconnected: {rest:?}");
    // The others go on.
    let mut c = Client::connect(&addr);
    server.wait_for_line(&format!("{} joined", c.local()), LIMIT);
    c.say("after the flood");
    assert_eq!(b.next_line(), format!("{}: after the flood", c.local()));
}

/// A line that is not UTF-8 reaches the others with replacement characters, and its client
/// stays: the tutorial's server took the decoding error for a lost client.
#[test]
fn a_line_that_is_not_utf8_is_passed_on_and_its_client_stays() {
    let (server, addr) = start_chat(Command::new(chat_bin()));
    let mut a = Client::connect(&addr);
    let mut b = Client::connect(&addr);
    for client in [&a, &b] {
        server.wait_for_line(&format!("{} joined", client.local()), LIMIT);
    }
    a.stream.write_all(b"\xff\xfe bad\n").unwrap();
    a.say("good line");
    assert_eq!(
        b.next_line(),
        format!("{}: \u{fffd}\u{fffd} bad", a.local())
    );
    assert_eq!(b.next_line(), format!("{}: good line", a.local()));
}

/// Out of descriptors, the server logs the accept error and goes on serving the clients it has;
/// the tutorial's `accept().await?` ended the process.
#[test]
fn running_out_of_descriptors_does_not_end_the_server() {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(chat_bin());
    // SAFETY: the closure runs in the child between fork and exec and only calls `setrlimit`,
    // a system call that is async-signal-safe, on a struct on its own stack.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (server, addr) = start_chat(cmd);
    let mut a = Client::connect(&addr);
    let mut b = Client::connect(&addr);
    for client in [&a, &b] {
        server.wait_for_line(&format!("{} joined", client.local()), LIMIT);
    }
    // More clients than the server has descriptors for; they wait in the backlog or are
    // accepted until the server runs out.
    let extra: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect_timeout(&addr.parse().unwrap(), LIMIT).ok())
        .collect();
    assert!(
        extra.len() > 48,
        "enough clients to run the server out of descriptors"
    );
    server.wait_for_line("accept: ", LIMIT);
    drop(extra);
    a.say("still serving");
    assert_eq!(b.next_line(), format!("{}: still serving", a.local()));
}
