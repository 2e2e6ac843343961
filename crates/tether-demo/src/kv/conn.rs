//! One client connection: read, run every complete command, write all the replies at once.
//!
//! # The loop
//!
//! 1. **Run** every complete command in the read buffer, appending each reply to the output
//!    buffer (a pipelined batch of a thousand `SET`s is a thousand replies in one buffer).
//! 2. **Collect** the pub/sub frames waiting in the connection's outbox, if it subscribed.
//! 3. **Write** the output buffer: one write for the whole batch when the socket takes it.
//! 4. **Wait** for more bytes, for published frames (subscriber mode), or for the server's
//!    shutdown; then go to 1.
//!
//! # Bounded memory
//!
//! - The read buffer holds one incomplete command at most beyond what was just read: it grows
//!   only while a command is incomplete, up to [`Limits::max_query`](super::Limits), and goes
//!   back to its initial size once drained.
//! - The output buffer is written out whenever it passes [`OUTPUT_FLUSH`] in the middle of a
//!   batch, and the rest of the batch waits in the read buffer until it is written: a client
//!   that sends requests without reading the replies costs the server one reply's worth of
//!   memory beyond `OUTPUT_FLUSH`. While a write waits for the client, the connection keeps
//!   reading its requests into the read buffer (up to `max_query`), without running them: a
//!   client that writes a whole pipeline before it reads any reply (as redis-py's pipelines
//!   do) finishes writing and then reads, instead of both sides waiting for each other. Only
//!   past `max_query` of unread requests does the server stop reading (TCP then stops the
//!   client). It does not hold up other clients: each connection is its own task, and no
//!   lock is held across a wait.
//! - A subscriber's outbox is bounded (see [`pubsub`](super::pubsub)); while the connection
//!   waits on a write to a subscriber that does not read, it also waits for the outbox's
//!   overflow, and closes the connection when it happens.
//!
//! A protocol error is answered (`-ERR Protocol error: ...`, after the replies of the commands
//! before it) and the connection is closed: the byte stream cannot be resynchronised.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::TcpStream;
use tether::scope::CancelToken;

use super::command::{execute, Ctx};
use super::pubsub::{Subscriber, Subscriptions, Taken};
use super::resp::{put_error, Parsed, Request};
use super::{Gauge, Shared};

/// The read buffer's initial (and resting) size.
const INITIAL_READ: usize = 16 * 1024;
/// Fewer free bytes than this at the end of the read buffer: move the unconsumed bytes to the
/// front before the next read.
const MIN_READ: usize = 4 * 1024;
/// The output buffer is written out as soon as it holds this much, even mid-batch.
pub const OUTPUT_FLUSH: usize = 64 * 1024;

/// What a connection is doing, for the shutdown report.
pub const READING: u8 = 0;
/// Writing replies (or frames) the client has not read yet.
pub const WRITING: u8 = 1;
/// Subscribed, waiting for messages or commands.
pub const SUBSCRIBED: u8 = 2;
/// Closing after the shutdown signal.
pub const CLOSING: u8 = 3;

/// Describes a [`READING`]..[`CLOSING`] phase.
pub fn phase_text(phase: u8) -> &'static str {
    match phase {
        READING => "waiting for a command",
        WRITING => "writing replies (the client was not reading)",
        SUBSCRIBED => "subscribed, waiting for messages",
        _ => "closing",
    }
}

/// How a connection ended without an I/O error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client closed its side.
    ClientClosed,
    /// The client sent `QUIT`.
    Quit,
    /// The server is shutting down; the connection stopped between two batches.
    Stopped,
    /// The client broke the protocol (answered with the error, then closed).
    ProtocolError,
    /// A command needed more read buffer than `max_query` (answered, then closed).
    QueryTooBig,
    /// The subscriber's outbox overflowed: it was not reading its messages.
    OutboxOverflowed,
}

/// The capacities of one connection's buffers, as counted in the server's gauge: updated
/// before every write (when the output buffer is fullest) and before every wait, and removed
/// from the gauge when the connection ends. An update that changes nothing touches no shared
/// counter.
struct Tracked<'a> {
    gauge: &'a Gauge,
    counted: usize,
}

impl Tracked<'_> {
    fn update(&mut self, now: usize) {
        self.gauge.resized(self.counted, now);
        self.counted = now;
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.gauge.resized(self.counted, 0);
    }
}

/// One connection's counts, added to the server's [`Stats`](super::Stats) when it ends
/// (however it ends: a connection cut off by the shutdown is dropped).
struct Counts<'a> {
    stats: &'a super::Stats,
    commands: u64,
    reads: u64,
    batches: u64,
}

impl Drop for Counts<'_> {
    fn drop(&mut self) {
        self.stats
            .commands
            .fetch_add(self.commands, Ordering::Relaxed);
        self.stats.reads.fetch_add(self.reads, Ordering::Relaxed);
        self.stats
            .batches_written
            .fetch_add(self.batches, Ordering::Relaxed);
    }
}

/// Serves one client until it closes, quits, breaks the protocol, or `stop` is cancelled
/// (checked only between batches, never in the middle of a write).
pub(crate) async fn serve(
    stream: &mut TcpStream,
    shared: &Shared,
    client_id: u64,
    phase: &AtomicU8,
    stop: &CancelToken,
) -> io::Result<Ended> {
    let limits = shared.config.limits;
    let mut input = Inbuf {
        buf: vec![0u8; INITIAL_READ],
        start: 0,
        end: 0,
        closed: false,
        max: limits.max_query,
    };
    let mut out: Vec<u8> = Vec::with_capacity(INITIAL_READ);
    let mut tracked = Tracked {
        gauge: &shared.gauge,
        counted: 0,
    };
    tracked.update(input.buf.len() + out.capacity());
    let mut counts = Counts {
        stats: &shared.stats,
        commands: 0,
        reads: 0,
        batches: 0,
    };
    let mut req = Request::new();
    let mut subs = Subscriptions::new(shared.pubsub.clone());
    let mut stop_signal = stop.cancelled();
    loop {
        // 1. Run every complete command.
        let mut ended = None;
        while ended.is_none() {
            match req.parse(&input.buf[input.start..input.end], &limits.resp) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Command { consumed }) => {
                    let args = req.args(&input.buf[input.start..input.end]);
                    if !args.is_empty() {
                        let mut ctx = Ctx {
                            db: &shared.db,
                            pubsub: &shared.pubsub,
                            subs: &mut subs,
                            config: &shared.config,
                            client_id,
                            out: &mut out,
                            close: false,
                        };
                        execute(&mut ctx, args);
                        counts.commands += 1;
                        if ctx.close {
                            ended = Some(Ended::Quit);
                        }
                    }
                    input.start += consumed;
                    if ended.is_none() && out.len() >= OUTPUT_FLUSH {
                        // A big batch: write what it produced so far before running the rest,
                        // so that the output stays bounded (see the module docs).
                        phase.store(WRITING, Ordering::Relaxed);
                        counts.batches += 1;
                        tracked.update(input.buf.len() + out.capacity());
                        let sub = subs.subscriber();
                        if write_out(stream, &out, sub, &mut input, &mut counts).await?
                            == Written::Overflowed
                        {
                            shared.pubsub.count_overflow();
                            return Ok(Ended::OutboxOverflowed);
                        }
                        written(&mut out);
                    }
                }
                Err(e) => {
                    put_error(&mut out, &format!("ERR {}", e.message()));
                    ended = Some(Ended::ProtocolError);
                }
            }
        }
        if input.start == input.end {
            input.start = 0;
            input.end = 0;
        }
        // 2. Pub/sub frames.
        if let Some(sub) = subs.subscriber() {
            if sub.take(&mut out) == Taken::Overflowed {
                shared.pubsub.count_overflow();
                return Ok(Ended::OutboxOverflowed);
            }
        }
        // 3. One write for the batch.
        if !out.is_empty() {
            phase.store(WRITING, Ordering::Relaxed);
            counts.batches += 1;
            tracked.update(input.buf.len() + out.capacity());
            let sub = subs.subscriber();
            if write_out(stream, &out, sub, &mut input, &mut counts).await? == Written::Overflowed {
                shared.pubsub.count_overflow();
                return Ok(Ended::OutboxOverflowed);
            }
            written(&mut out);
            if ended.is_none() && input.end > input.start {
                // Requests read while the replies were written: run them first.
                continue;
            }
        }
        if let Some(e) = ended {
            tracked.update(input.buf.len() + out.capacity());
            return Ok(e);
        }
        if input.closed {
            // The client closed its side while we wrote, and every request it sent is answered.
            return Ok(Ended::ClientClosed);
        }
        // Room to read into.
        if input.start == 0 && input.end == 0 && input.buf.len() > INITIAL_READ {
            input.buf = vec![0u8; INITIAL_READ];
        } else if !input.make_room() {
            put_error(
                &mut out,
                &format!(
                    "ERR Protocol error: a command of more than {} bytes (the query buffer \
                     limit)",
                    limits.max_query
                ),
            );
            write_out(stream, &out, None, &mut input, &mut counts).await?;
            return Ok(Ended::QueryTooBig);
        }
        tracked.update(input.buf.len() + out.capacity());
        // 4. Wait.
        let subscriber = subs.subscriber();
        phase.store(
            if subscriber.is_some() {
                SUBSCRIBED
            } else {
                READING
            },
            Ordering::Relaxed,
        );
        // The shutdown is looked at before every wait, so a client that keeps sending cannot
        // delay it; the read is polled first, so a wake-up by the reactor completes without
        // touching the token's lock.
        if stop.is_cancelled() {
            return Ok(Ended::Stopped);
        }
        let wake = match subscriber {
            None => tether::select! {
                biased;
                read = stream.read(&mut input.buf[input.end..]) => Wake::Read(read),
                _ = &mut stop_signal => Wake::Stop,
            },
            Some(sub) => tether::select! {
                biased;
                read = stream.read(&mut input.buf[input.end..]) => Wake::Read(read),
                _ = sub.notified() => Wake::Frames,
                _ = &mut stop_signal => Wake::Stop,
            },
        };
        match wake {
            Wake::Stop => return Ok(Ended::Stopped),
            Wake::Read(Ok(0)) => return Ok(Ended::ClientClosed),
            Wake::Read(Ok(n)) => {
                counts.reads += 1;
                input.end += n;
            }
            Wake::Read(Err(e)) => return Err(e),
            Wake::Frames => {}
        }
    }
}

/// Empties the output buffer once written, giving a large one back to the allocator.
fn written(out: &mut Vec<u8>) {
    out.clear();
    if out.capacity() > OUTPUT_FLUSH * 2 {
        *out = Vec::with_capacity(INITIAL_READ);
    }
}

/// What ended a wait.
enum Wake {
    Stop,
    Read(io::Result<usize>),
    Frames,
}

/// How [`write_out`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    /// Everything was written.
    All,
    /// The subscriber's outbox overflowed while the client was not reading: close.
    Overflowed,
}

/// The read buffer: the bytes read and not yet run are `buf[start..end]`.
struct Inbuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The client closed its side (seen while a write waited): nothing more will come.
    closed: bool,
    /// `Limits::max_query`: the buffer grows no larger.
    max: usize,
}

impl Inbuf {
    /// Makes at least [`MIN_READ`] bytes of room at the end: moves the unread bytes to the front,
    /// then doubles the buffer, up to `max`. False when it is at `max` and still short of room:
    /// an incomplete command longer than the limit.
    fn make_room(&mut self) -> bool {
        if self.buf.len() - self.end >= MIN_READ {
            return true;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end >= MIN_READ {
            return true;
        }
        if self.buf.len() >= self.max {
            return false;
        }
        let bigger = (self.buf.len() * 2).min(self.max);
        self.buf.resize(bigger, 0);
        true
    }

    /// Room to read into while a write waits, if the client may still send: false at `max`
    /// (the client is then stopped by TCP until its replies are read).
    fn room_while_writing(&mut self) -> bool {
        !self.closed && (self.make_room() || self.end < self.buf.len())
    }
}

/// Writes `out` completely, reading the client's further requests into `input` meanwhile (see
/// the module docs). For a subscriber, also watches its outbox: an overflow while the client
/// is not reading ends the write.
async fn write_out(
    stream: &mut TcpStream,
    out: &[u8],
    subscriber: Option<&std::sync::Arc<Subscriber>>,
    input: &mut Inbuf,
    counts: &mut Counts<'_>,
) -> io::Result<Written> {
    let Some(sub) = subscriber else {
        let stream: &TcpStream = stream;
        let mut written = 0;
        while written < out.len() {
            // `&TcpStream` reads and writes: one for each direction.
            let (mut reader, mut writer) = (stream, stream);
            let step = if input.room_while_writing() {
                let unread = &mut input.buf[input.end..];
                tether::select! {
                    biased;
                    wrote = writer.write(&out[written..]) => Step::Wrote(wrote),
                    read = reader.read(unread) => Step::Read(read),
                }
            } else {
                Step::Wrote(writer.write(&out[written..]).await)
            };
            match step {
                Step::Wrote(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Step::Wrote(Ok(n)) => written += n,
                Step::Read(Ok(0)) => input.closed = true,
                Step::Read(Ok(n)) => {
                    counts.reads += 1;
                    input.end += n;
                }
                Step::Wrote(Err(e)) | Step::Read(Err(e)) => return Err(e),
            }
        }
        return Ok(Written::All);
    };
    let mut written = 0;
    while written < out.len() {
        let wrote = tether::select! {
            biased;
            wrote = stream.write(&out[written..]) => Some(wrote),
            _ = sub.notified() => None,
        };
        match wrote {
            Some(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Some(Ok(n)) => written += n,
            Some(Err(e)) => return Err(e),
            // Frames or an overflow: frames are collected after this write (a consumed
            // notification loses nothing, `pubsub`'s rule 3); an overflow ends it.
            None if sub.overflowed() => return Ok(Written::Overflowed),
            None => {}
        }
    }
    Ok(Written::All)
}

/// What one step of a write that also reads did.
enum Step {
    Wrote(io::Result<usize>),
    Read(io::Result<usize>),
}
