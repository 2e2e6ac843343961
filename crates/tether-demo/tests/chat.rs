//! The chat server (`chat` binary, the tokio tutorial pattern ported by renaming imports) as a
//! child process, talked to by plain std sockets: a line from one client reaches every other
//! client with the sender's address, never the sender itself, and a client that leaves does
//! not disturb the others. Every wait is bounded by a real-time limit.

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
