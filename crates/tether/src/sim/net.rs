//! The simulated network: hosts with addresses, TCP connections, UDP sockets, links with
//! latency, jitter, bandwidth, loss, partitions and holds, and a queue of events in virtual
//! time.
//!
//! The sockets of a simulation are tether's own types over a simulated backend
//! (`socket.rs`): they register with the runtime's reactor like real sockets, and this module
//! sets their readiness (as the reactor does for an epoll event) when something arrives, so the
//! whole readiness path of `net` runs unchanged. Rules:
//!
//! 1. **Delivery is an event.** Everything sent (a segment, a FIN, a reset, a connection
//!    request or its answer, a datagram) becomes an event due at its arrival time; the run loop
//!    delivers events when the clock reaches them. Nothing sent arrives in the same step.
//! 2. **Links keep order.** A direction of a link (host a to host b) never delivers an event
//!    before one sent earlier on it: arrival = max(send time + latency + jitter (after the
//!    link's bandwidth has sent the bytes), the link's previous arrival). Equal times are
//!    ordered by sequence number.
//! 3. **A cut link holds TCP, drops UDP.** An event arriving over a partitioned or held link
//!    waits in the link's queue (datagrams over a partition are lost). When the link is
//!    repaired or released, the queue is delivered at once, in order: its events had already
//!    reached the end of the link, and each was sent before anything still in flight on it
//!    (rule 2), so delivering them now keeps the link's order (re-sending them with a new
//!    latency would let a segment sent during the cut overtake them). A partition that
//!    outlasts `reset_after` resets every connection with data held on it, as TCP's
//!    retransmission timeout would.
//! 4. **Flow control.** A direction of a connection carries at most `window` bytes not yet
//!    read by the receiver (in flight plus buffered); a write beyond it returns `WouldBlock`
//!    and clears write readiness, and the receiver's read sets it again.
//! 5. **Readiness follows state.** Any change that could let a `try_*` operation succeed sets
//!    the matching readiness bits on the socket's `ScheduledIo` and collects its wakers, which
//!    the caller wakes after releasing the world's lock (`world.rs` rule 1). A read that finds
//!    fewer bytes than asked drains the buffer (the readiness path's short-read rule relies
//!    on it).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::world::{Event, HostId, World};
use crate::io::scheduled_io::{ScheduledIo, ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};

/// The simulated network's settings: latency, jitter, UDP loss, bandwidth, timeouts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::sim::NetConfig;
///
/// let net = NetConfig::default()
///     .latency(Duration::from_millis(20))
///     .jitter(Duration::from_millis(5))
///     .loss(0.01)
///     .bandwidth(10_000_000);
/// # let _ = net;
/// ```
#[derive(Clone, Debug)]
pub struct NetConfig {
    latency: Duration,
    jitter: Duration,
    loss: f64,
    bandwidth: Option<u64>,
    reset_after: Duration,
    connect_timeout: Duration,
    window: usize,
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            bandwidth: None,
            reset_after: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            window: 256 * 1024,
        }
    }
}

impl NetConfig {
    /// One-way delay of every link between two hosts (default 1 ms; a host to itself: none).
    pub fn latency(mut self, d: Duration) -> NetConfig {
        self.latency = d;
        self
    }

    /// Extra delay per message, drawn uniformly from `0..=jitter` (default none). Links keep
    /// their order, so jitter delays later messages too rather than reordering a stream.
    pub fn jitter(mut self, d: Duration) -> NetConfig {
        self.jitter = d;
        self
    }

    /// The probability that a UDP datagram is lost (default 0). TCP is reliable while its link
    /// is up.
    ///
    /// # Panics
    ///
    /// Unless `0.0 <= p <= 1.0`.
    pub fn loss(mut self, p: f64) -> NetConfig {
        assert!(
            (0.0..=1.0).contains(&p),
            "tether::sim::NetConfig::loss: {p} is not a probability (0.0 to 1.0)"
        );
        self.loss = p;
        self
    }

    /// Each link's bandwidth in bytes per second, one way (default unlimited).
    ///
    /// # Panics
    ///
    /// If `bytes_per_sec` is 0.
    pub fn bandwidth(mut self, bytes_per_sec: u64) -> NetConfig {
        assert!(
            bytes_per_sec > 0,
            "tether::sim::NetConfig::bandwidth: 0 bytes/s would never deliver anything"
        );
        self.bandwidth = Some(bytes_per_sec);
        self
    }

    /// How long a partition may hold a connection's data before the connection is reset, as
    /// TCP's retransmissions would give up (default 10 s).
    pub fn reset_after(mut self, d: Duration) -> NetConfig {
        self.reset_after = d;
        self
    }

    /// How long `TcpStream::connect` waits for an answer (a partition, a crashed host) before
    /// failing with `TimedOut` (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> NetConfig {
        self.connect_timeout = d;
        self
    }

    /// The bytes one direction of a connection holds unread before writes wait (default
    /// 256 KiB).
    ///
    /// # Panics
    ///
    /// If `bytes` is 0.
    pub fn window(mut self, bytes: usize) -> NetConfig {
        assert!(
            bytes > 0,
            "tether::sim::NetConfig::window: must be at least 1 byte"
        );
        self.window = bytes;
        self
    }
}

/// A random fault schedule (`sim::Faults`).
#[derive(Clone, Debug, Default)]
pub(crate) struct FaultPlan {
    pub(crate) mean_interval: Duration,
    pub(crate) down_for: Duration,
    pub(crate) partitions: bool,
    pub(crate) crash: Vec<String>,
}

/// Runs a fault schedule: at random virtual times, partition a random pair of hosts or crash
/// a random crashable host, and undo it `down_for` later. Runs until the simulation ends.
pub(crate) async fn run_faults(world: Arc<World>, plan: FaultPlan) {
    let crashable: Vec<HostId> = plan
        .crash
        .iter()
        .map(|n| {
            world
                .host_by_name(n)
                .unwrap_or_else(|| panic!("tether::sim::Faults::crashes: no host is named {n:?}"))
        })
        .collect();
    let hosts: Vec<HostId> = {
        let st = world.lock();
        (0..st.hosts.len())
            .filter(|&h| !st.hosts[h].name.starts_with("tether-sim-"))
            .collect()
    };
    let kinds = usize::from(plan.partitions) + usize::from(!crashable.is_empty());
    if kinds == 0 {
        return;
    }
    loop {
        // Exponential gaps: -ln(u) * mean, u in (0, 1].
        let u = (world.draw() >> 11) as f64 / (1u64 << 53) as f64;
        let gap = plan.mean_interval.mul_f64(-(1.0 - u).ln().min(20.0));
        crate::time::sleep(gap).await;
        let mut kind = world.draw_below(kinds);
        if !plan.partitions {
            kind = 1;
        }
        if kind == 0 && hosts.len() >= 2 {
            let ia = world.draw_below(hosts.len());
            let mut ib = world.draw_below(hosts.len() - 1);
            if ib >= ia {
                ib += 1;
            }
            let (a, b) = (hosts[ia], hosts[ib]);
            {
                let now = crate::time::Instant::now().into_std();
                let mut st = world.lock();
                st.net.now = now;
                st.net.set_partitioned(a, b, true);
            }
            world.record(Event::Fault(format!("random partition {a} {b}")));
            crate::time::sleep(plan.down_for).await;
            {
                let mut wakers = Vec::new();
                let now = crate::time::Instant::now().into_std();
                let mut st = world.lock();
                st.net.now = now;
                st.net.set_partitioned(a, b, false);
                st.net.flush_wakers(&mut wakers);
                drop(st);
                wakers.into_iter().for_each(Waker::wake);
            }
            world.record(Event::Fault(format!("random repair {a} {b}")));
        } else if !crashable.is_empty() {
            let h = crashable[world.draw_below(crashable.len())];
            let incarnation = world.lock().hosts[h].restarts;
            if super::crash_host(&world, h) {
                crate::time::sleep(plan.down_for).await;
                // Restart only what this schedule crashed, if the test has not meanwhile.
                let st = world.lock();
                let ours = !st.hosts[h].up && st.hosts[h].restarts == incarnation;
                drop(st);
                if ours {
                    super::restart_host(&world, h);
                }
            }
        }
    }
}

/// An event in flight (rule 1).
#[derive(Debug)]
enum NetEvent {
    /// A connection request reaching the listener's host.
    Syn { conn: u64 },
    /// The listener's host accepted: the connection is established at the client.
    SynAck { conn: u64 },
    /// Nothing listens at the address: connection refused.
    Refuse { conn: u64 },
    /// Bytes for end `to` of a connection.
    Data {
        conn: u64,
        to: usize,
        bytes: Vec<u8>,
    },
    /// End of stream for end `to`.
    Fin { conn: u64, to: usize },
    /// Reset for end `to`.
    Rst { conn: u64, to: usize },
    /// A datagram.
    Datagram {
        to: (HostId, u16),
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Checks whether the partition of a link begun at `since` still holds (rule 3).
    PartitionCheck {
        a: HostId,
        b: HostId,
        since: Instant,
    },
    /// `connect` gives up if still unanswered.
    ConnectTimeout { conn: u64 },
}

struct Scheduled {
    at: Instant,
    seq: u64,
    src: HostId,
    dst: HostId,
    ev: NetEvent,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Scheduled) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Scheduled) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Scheduled) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// One direction of a link (rules 2, 3).
#[derive(Default)]
struct Link {
    partitioned_since: Option<Instant>,
    held: bool,
    /// Events that arrived while the link was cut, in order.
    waiting: VecDeque<(HostId, HostId, NetEvent)>,
    last_arrival: Option<Instant>,
    busy_until: Option<Instant>,
}

struct HostNet {
    ip: IpAddr,
    up: bool,
    next_port: u16,
}

/// How a connection attempt stands, at the client's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnectState {
    Pending,
    Established,
    Refused,
    TimedOut,
    Reset,
}

struct End {
    host: HostId,
    addr: SocketAddr,
    sio: Option<Weak<ScheduledIo>>,
    recv: VecDeque<u8>,
    /// The peer's FIN arrived.
    eof: bool,
    reset: bool,
    /// This end sent its FIN.
    write_shut: bool,
    /// The socket was dropped (or its host crashed).
    gone: bool,
    /// Bytes sent by this end not yet delivered to the peer.
    in_flight: usize,
    /// A write found the window full (rule 4).
    write_blocked: bool,
}

impl End {
    fn new(host: HostId, addr: SocketAddr) -> End {
        End {
            host,
            addr,
            sio: None,
            recv: VecDeque::new(),
            eof: false,
            reset: false,
            write_shut: false,
            gone: false,
            in_flight: 0,
            write_blocked: false,
        }
    }

    /// Sets readiness bits and collects the wakers waiting for them (rule 5).
    fn signal(&self, bits: usize, wakers: &mut Vec<Waker>) {
        if let Some(sio) = self.sio.as_ref().and_then(Weak::upgrade) {
            sio.set_readiness(bits);
            sio.take_wakers(bits, wakers);
        }
    }

    /// The readiness this end's state implies, for a socket attached after events arrived.
    fn readiness(&self) -> usize {
        let mut r = 0;
        if self.reset {
            return READABLE | WRITABLE | READ_CLOSED | WRITE_CLOSED | ERROR;
        }
        if !self.recv.is_empty() || self.eof {
            r |= READABLE;
        }
        if self.eof {
            r |= READ_CLOSED;
        }
        if !self.write_blocked {
            r |= WRITABLE;
        }
        r
    }
}

struct Conn {
    ends: [End; 2],
    state: ConnectState,
    connect_waker: Option<Waker>,
    /// The listener's port the connection was made to.
    port: u16,
}

/// A listener, or a UDP socket, is one *binding* of a (host, port): its id tells it from a
/// later binding of the same port (after a crash and restart, the old socket's drop must not
/// unbind the new one).
struct Listener {
    binding: u64,
    sio: Option<Weak<ScheduledIo>>,
    backlog: VecDeque<u64>,
}

struct Udp {
    binding: u64,
    sio: Option<Weak<ScheduledIo>>,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
}

/// Datagrams a UDP socket queues before it drops new ones (a full receive buffer).
const UDP_QUEUE: usize = 1024;
/// The largest chunk one event carries.
const SEGMENT: usize = 64 * 1024;

/// The network of a simulation; see the module docs.
pub(crate) struct Network {
    cfg: NetConfig,
    /// Per-link settings (`Sim::link`), both directions, in place of `cfg`'s latency, jitter,
    /// loss and bandwidth.
    link_cfg: HashMap<(HostId, HostId), NetConfig>,
    /// The virtual time, kept by the run loop.
    pub(crate) now: Instant,
    hosts: Vec<HostNet>,
    links: HashMap<(HostId, HostId), Link>,
    listeners: HashMap<(HostId, u16), Listener>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    udp: HashMap<(HostId, u16), Udp>,
    events: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    /// Wakers collected by operations that had no caller to hand them to.
    pending_wakers: Vec<Waker>,
    /// Trace lines of what was delivered or lost (taken by the run loop).
    pub(crate) log: Vec<String>,
}

fn err(kind: io::ErrorKind, msg: String) -> io::Error {
    io::Error::new(kind, msg)
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

impl Network {
    pub(crate) fn new(cfg: NetConfig) -> Network {
        Network {
            cfg,
            link_cfg: HashMap::new(),
            now: Instant::now(),
            hosts: Vec::new(),
            links: HashMap::new(),
            listeners: HashMap::new(),
            conns: HashMap::new(),
            next_conn: 1,
            udp: HashMap::new(),
            events: BinaryHeap::new(),
            seq: 0,
            pending_wakers: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Sets the latency, jitter, loss and bandwidth of the link between `a` and `b`, both ways.
    pub(crate) fn set_link(&mut self, a: HostId, b: HostId, cfg: NetConfig) {
        self.link_cfg.insert((a, b), cfg.clone());
        self.link_cfg.insert((b, a), cfg);
    }

    pub(crate) fn add_host(&mut self, id: HostId, ip: IpAddr) {
        debug_assert_eq!(id, self.hosts.len());
        self.hosts.push(HostNet {
            ip,
            up: true,
            next_port: 49152,
        });
    }

    /// The host with address `ip`, as seen from `from` (loopback and unspecified addresses
    /// are `from` itself).
    pub(crate) fn host_of(&self, from: HostId, ip: IpAddr) -> Option<HostId> {
        if ip.is_loopback() || ip.is_unspecified() {
            return Some(from);
        }
        self.hosts.iter().position(|h| h.ip == ip)
    }

    pub(crate) fn ip_of(&self, host: HostId) -> IpAddr {
        self.hosts[host].ip
    }

    /// When the next event is due.
    /// When the next event is due. Timeouts that no longer matter (a connection no longer
    /// pending, a partition repaired) are dropped first, so they neither delay a deadlock's
    /// report nor move the clock.
    pub(crate) fn next_event(&mut self) -> Option<Instant> {
        while let Some(Reverse(s)) = self.events.peek() {
            let stale = match s.ev {
                NetEvent::ConnectTimeout { conn } => self
                    .conns
                    .get(&conn)
                    .is_none_or(|c| c.state != ConnectState::Pending),
                NetEvent::PartitionCheck { a, b, since } => [(a, b), (b, a)].iter().all(|k| {
                    self.links
                        .get(k)
                        .is_none_or(|l| l.partitioned_since != Some(since))
                }),
                _ => false,
            };
            if !stale {
                return Some(s.at);
            }
            self.events.pop();
        }
        None
    }

    /// Moves wakers collected without a caller into `out`.
    pub(crate) fn flush_wakers(&mut self, out: &mut Vec<Waker>) {
        out.append(&mut self.pending_wakers);
    }

    /// Schedules `ev` from `src` to `dst`, `bytes` long, over the link's timing (rule 2).
    fn send(
        &mut self,
        src: HostId,
        dst: HostId,
        bytes: usize,
        ev: NetEvent,
        draw: &mut dyn FnMut() -> u64,
    ) {
        let now = self.now;
        let at = if src == dst {
            now
        } else {
            let cfg = self.link_cfg.get(&(src, dst)).unwrap_or(&self.cfg);
            let jitter = if cfg.jitter.is_zero() {
                Duration::ZERO
            } else {
                let n = cfg.jitter.as_nanos() as u64 + 1;
                Duration::from_nanos(((u128::from(draw()) * u128::from(n)) >> 64) as u64)
            };
            let link = self.links.entry((src, dst)).or_default();
            let sent = match cfg.bandwidth {
                Some(bw) => {
                    let start = link.busy_until.map_or(now, |b| b.max(now));
                    let tx = Duration::from_nanos(
                        (bytes as u128 * 1_000_000_000 / u128::from(bw)) as u64,
                    );
                    link.busy_until = Some(start + tx);
                    start + tx
                }
                None => now,
            };
            let arrival = sent + cfg.latency + jitter;
            let arrival = link.last_arrival.map_or(arrival, |l| l.max(arrival));
            link.last_arrival = Some(arrival);
            arrival
        };
        self.schedule(at, src, dst, ev);
    }

    fn schedule(&mut self, at: Instant, src: HostId, dst: HostId, ev: NetEvent) {
        self.seq += 1;
        self.events.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            src,
            dst,
            ev,
        }));
    }

    /// Delivers every event due at `now` (rules 1, 3), collecting the wakers to wake.
    pub(crate) fn deliver_due(
        &mut self,
        now: Instant,
        wakers: &mut Vec<Waker>,
        draw: &mut dyn FnMut() -> u64,
    ) {
        self.now = now;
        while self.events.peek().is_some_and(|Reverse(s)| s.at <= now) {
            let Reverse(s) = self.events.pop().expect("peeked");
            self.arrive(s.src, s.dst, s.ev, wakers, draw);
        }
        wakers.append(&mut self.pending_wakers);
    }

    fn link_cut(&self, src: HostId, dst: HostId) -> (bool, bool) {
        match self.links.get(&(src, dst)) {
            Some(l) => (l.partitioned_since.is_some(), l.held),
            None => (false, false),
        }
    }

    fn arrive(
        &mut self,
        src: HostId,
        dst: HostId,
        ev: NetEvent,
        wakers: &mut Vec<Waker>,
        draw: &mut dyn FnMut() -> u64,
    ) {
        let (partitioned, held) = self.link_cut(src, dst);
        if let NetEvent::PartitionCheck { a, b, since } = ev {
            self.partition_check(a, b, since, wakers);
            return;
        }
        if let NetEvent::ConnectTimeout { conn } = ev {
            if let Some(c) = self.conns.get_mut(&conn) {
                if c.state == ConnectState::Pending {
                    c.state = ConnectState::TimedOut;
                    if let Some(w) = c.connect_waker.take() {
                        wakers.push(w);
                    }
                }
            }
            return;
        }
        if partitioned || held {
            if partitioned && matches!(ev, NetEvent::Datagram { .. }) {
                self.log
                    .push(format!("datagram {src}->{dst} lost (partition)"));
                return;
            }
            self.links
                .entry((src, dst))
                .or_default()
                .waiting
                .push_back((src, dst, ev));
            return;
        }
        let _ = draw;
        match ev {
            NetEvent::Syn { conn } => self.on_syn(conn, src, dst),
            NetEvent::SynAck { conn } | NetEvent::Refuse { conn } => {
                let refused = matches!(ev, NetEvent::Refuse { .. });
                if let Some(c) = self.conns.get_mut(&conn) {
                    if c.state == ConnectState::Pending {
                        c.state = if refused {
                            ConnectState::Refused
                        } else {
                            ConnectState::Established
                        };
                        if let Some(w) = c.connect_waker.take() {
                            wakers.push(w);
                        }
                    }
                }
            }
            NetEvent::Data { conn, to, bytes } => {
                let n = bytes.len();
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.ends[1 - to].in_flight = c.ends[1 - to].in_flight.saturating_sub(n);
                let end = &mut c.ends[to];
                if end.gone || end.reset {
                    // Data for a closed socket: the sender gets a reset, as from a real
                    // stack.
                    let (s, d) = (c.ends[to].host, c.ends[1 - to].host);
                    self.send(s, d, 0, NetEvent::Rst { conn, to: 1 - to }, draw);
                    return;
                }
                end.recv.extend(bytes);
                end.signal(READABLE, wakers);
                self.log.push(format!("conn {conn}: {n} bytes to end {to}"));
            }
            NetEvent::Fin { conn, to } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    let end = &mut c.ends[to];
                    end.eof = true;
                    end.signal(READABLE | READ_CLOSED, wakers);
                    self.log.push(format!("conn {conn}: fin to end {to}"));
                }
            }
            NetEvent::Rst { conn, to } => {
                if !self.hosts[dst].up {
                    // A crashed host's sockets are gone already.
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.ends[to].gone = true;
                    }
                }
                self.reset_end(conn, to, wakers);
            }
            NetEvent::Datagram { to, from, bytes } => {
                if !self.hosts[to.0].up {
                    return;
                }
                if let Some(u) = self.udp.get_mut(&to) {
                    if u.queue.len() < UDP_QUEUE {
                        u.queue.push_back((from, bytes));
                        if let Some(sio) = u.sio.as_ref().and_then(Weak::upgrade) {
                            sio.set_readiness(READABLE);
                            sio.take_wakers(READABLE, wakers);
                        }
                    }
                }
            }
            NetEvent::PartitionCheck { .. } | NetEvent::ConnectTimeout { .. } => {
                unreachable!("handled above")
            }
        }
    }

    fn on_syn(&mut self, conn: u64, src: HostId, dst: HostId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let port = c.port;
        if !self.hosts[dst].up {
            // A crashed host answers nothing: the client's connect times out.
            return;
        }
        let accepted = match self.listeners.get_mut(&(dst, port)) {
            Some(l) => {
                l.backlog.push_back(conn);
                if let Some(sio) = l.sio.as_ref().and_then(Weak::upgrade) {
                    sio.set_readiness(READABLE);
                    sio.take_wakers(READABLE, &mut self.pending_wakers);
                }
                true
            }
            None => false,
        };
        let mut no_draw = || 0;
        if accepted {
            self.log
                .push(format!("conn {conn}: accepted on port {port}"));
            self.send(dst, src, 0, NetEvent::SynAck { conn }, &mut no_draw);
        } else {
            // The server's end never existed.
            if let Some(c) = self.conns.get_mut(&conn) {
                c.ends[1].gone = true;
            }
            self.log
                .push(format!("conn {conn}: refused on port {port}"));
            self.send(dst, src, 0, NetEvent::Refuse { conn }, &mut no_draw);
        }
    }

    fn reset_end(&mut self, conn: u64, to: usize, wakers: &mut Vec<Waker>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.state == ConnectState::Pending && to == 0 {
                c.state = ConnectState::Reset;
                if let Some(w) = c.connect_waker.take() {
                    wakers.push(w);
                }
            }
            let end = &mut c.ends[to];
            if !end.reset {
                end.reset = true;
                end.recv.clear();
                end.signal(
                    READABLE | WRITABLE | READ_CLOSED | WRITE_CLOSED | ERROR,
                    wakers,
                );
                self.log.push(format!("conn {conn}: reset end {to}"));
            }
            if c.ends[0].gone && c.ends[1].gone {
                self.conns.remove(&conn);
            }
        }
    }

    fn partition_check(&mut self, a: HostId, b: HostId, since: Instant, wakers: &mut Vec<Waker>) {
        let still = |l: Option<&Link>| l.is_some_and(|l| l.partitioned_since == Some(since));
        if !still(self.links.get(&(a, b))) && !still(self.links.get(&(b, a))) {
            return;
        }
        // Rule 3: connections with data held on the cut link are reset.
        let mut victims = Vec::new();
        for key in [(a, b), (b, a)] {
            if let Some(l) = self.links.get_mut(&key) {
                l.waiting.retain(|(_, _, ev)| match ev {
                    NetEvent::Data { conn, .. } | NetEvent::Fin { conn, .. } => {
                        victims.push(*conn);
                        false
                    }
                    _ => true,
                });
            }
        }
        victims.sort_unstable();
        victims.dedup();
        for conn in victims {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.ends[0].in_flight = 0;
                c.ends[1].in_flight = 0;
            }
            self.reset_end(conn, 0, wakers);
            self.reset_end(conn, 1, wakers);
        }
    }

    /// Cuts or repairs the link between `a` and `b`, both ways (rule 3).
    pub(crate) fn set_partitioned(&mut self, a: HostId, b: HostId, on: bool) {
        let now = self.now;
        for key in [(a, b), (b, a)] {
            let l = self.links.entry(key).or_default();
            l.partitioned_since = if on {
                Some(l.partitioned_since.unwrap_or(now))
            } else {
                None
            };
        }
        if on {
            let since = self.links[&(a, b)].partitioned_since.expect("just set");
            self.schedule(
                now + self.cfg.reset_after,
                a,
                b,
                NetEvent::PartitionCheck { a, b, since },
            );
        } else {
            self.deliver_waiting(a, b);
            self.deliver_waiting(b, a);
        }
    }

    /// Holds or releases the link from `a` to `b` (rule 3).
    pub(crate) fn set_held(&mut self, a: HostId, b: HostId, on: bool) {
        let l = self.links.entry((a, b)).or_default();
        l.held = on;
        if !on && l.partitioned_since.is_none() {
            self.deliver_waiting(a, b);
        }
    }

    /// Delivers what a repaired or released link held, at once and in order (rule 3); the
    /// wakers wait in `pending_wakers` for the caller to flush.
    fn deliver_waiting(&mut self, a: HostId, b: HostId) {
        let Some(l) = self.links.get_mut(&(a, b)) else {
            return;
        };
        if l.held || l.partitioned_since.is_some() {
            return;
        }
        let waiting = std::mem::take(&mut l.waiting);
        let mut wakers = Vec::new();
        let mut no_draw = || 0;
        for (src, dst, ev) in waiting {
            self.arrive(src, dst, ev, &mut wakers, &mut no_draw);
        }
        self.pending_wakers.append(&mut wakers);
    }

    /// A crash: every socket of `h` is gone, its peers are reset (rule 5).
    pub(crate) fn crash_host(&mut self, h: HostId, wakers: &mut Vec<Waker>) {
        self.hosts[h].up = false;
        self.listeners.retain(|(host, _), _| *host != h);
        self.udp.retain(|(host, _), _| *host != h);
        let mut conns: Vec<u64> = self.conns.keys().copied().collect();
        conns.sort_unstable();
        let mut no_draw = || 0;
        for conn in conns {
            let c = self.conns.get_mut(&conn).expect("listed");
            for side in 0..2 {
                if c.ends[side].host == h && !c.ends[side].gone {
                    c.ends[side].gone = true;
                    c.ends[side].reset = true;
                    let peer = &c.ends[1 - side];
                    if peer.host != h && !peer.gone {
                        let (s, d) = (h, peer.host);
                        self.send(s, d, 0, NetEvent::Rst { conn, to: 1 - side }, &mut no_draw);
                        break;
                    }
                }
            }
        }
        let _ = wakers;
    }

    pub(crate) fn restart_host(&mut self, h: HostId) {
        self.hosts[h].up = true;
    }

    fn ephemeral_port(&mut self, h: HostId) -> u16 {
        let host = &mut self.hosts[h];
        let p = host.next_port;
        host.next_port = if p == u16::MAX { 49152 } else { p + 1 };
        p
    }

    /// The port to bind: `asked`, or a free ephemeral one for 0; `AddrInUse` if taken.
    fn free_port(
        &mut self,
        h: HostId,
        asked: u16,
        what: &str,
        in_use: impl Fn(&Network, u16) -> bool,
    ) -> io::Result<u16> {
        if asked == 0 {
            loop {
                let p = self.ephemeral_port(h);
                if !in_use(self, p) {
                    return Ok(p);
                }
            }
        }
        if in_use(self, asked) {
            return Err(err(
                io::ErrorKind::AddrInUse,
                format!("{what} port {asked} of this simulated host is in use"),
            ));
        }
        Ok(asked)
    }

    fn local_ip(&self, h: HostId, asked: IpAddr) -> io::Result<IpAddr> {
        let own = self.hosts[h].ip;
        if asked.is_unspecified() || asked.is_loopback() || asked == own {
            Ok(own)
        } else {
            Err(err(
                io::ErrorKind::AddrNotAvailable,
                format!("{asked} is not an address of this simulated host (its address is {own})"),
            ))
        }
    }

    // ---- TCP ----

    /// Binds a listener: its address and binding id.
    pub(crate) fn tcp_bind(
        &mut self,
        h: HostId,
        addr: SocketAddr,
    ) -> io::Result<(SocketAddr, u64)> {
        let ip = self.local_ip(h, addr.ip())?;
        let port = self.free_port(h, addr.port(), "TCP", |net, p| {
            net.listeners.contains_key(&(h, p))
        })?;
        let binding = self.next_binding();
        self.listeners.insert(
            (h, port),
            Listener {
                binding,
                sio: None,
                backlog: VecDeque::new(),
            },
        );
        Ok((SocketAddr::new(ip, port), binding))
    }

    fn next_binding(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    /// The listener of binding `binding`, if it is still bound.
    fn listener(&mut self, h: HostId, port: u16, binding: u64) -> Option<&mut Listener> {
        self.listeners
            .get_mut(&(h, port))
            .filter(|l| l.binding == binding)
    }

    /// The UDP socket of binding `binding`, if it is still bound.
    fn udp_socket(&mut self, h: HostId, port: u16, binding: u64) -> Option<&mut Udp> {
        self.udp
            .get_mut(&(h, port))
            .filter(|u| u.binding == binding)
    }

    pub(crate) fn tcp_listener_attach(
        &mut self,
        h: HostId,
        port: u16,
        binding: u64,
        sio: &Arc<ScheduledIo>,
    ) {
        if let Some(l) = self.listener(h, port, binding) {
            l.sio = Some(Arc::downgrade(sio));
            if !l.backlog.is_empty() {
                sio.set_readiness(READABLE);
            }
        }
    }

    pub(crate) fn tcp_unbind(&mut self, h: HostId, port: u16, binding: u64) {
        if self.listener(h, port, binding).is_none() {
            return;
        }
        if let Some(l) = self.listeners.remove(&(h, port)) {
            let mut no_draw = || 0;
            for conn in l.backlog {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.ends[1].gone = true;
                    let (s, d) = (c.ends[1].host, c.ends[0].host);
                    self.send(s, d, 0, NetEvent::Rst { conn, to: 0 }, &mut no_draw);
                }
            }
        }
    }

    /// Takes the next connection waiting at a listener: (conn, peer address).
    pub(crate) fn tcp_accept(
        &mut self,
        h: HostId,
        port: u16,
        binding: u64,
    ) -> io::Result<(u64, SocketAddr)> {
        let l = self
            .listeners
            .get_mut(&(h, port))
            .filter(|l| l.binding == binding)
            .ok_or_else(|| {
                err(
                    io::ErrorKind::NotConnected,
                    "the simulated listener is gone (its host crashed)".into(),
                )
            })?;
        // Connections reset while they waited (their client gave up) are dropped here.
        while let Some(conn) = l.backlog.pop_front() {
            match self.conns.get_mut(&conn) {
                Some(c) if !c.ends[1].reset => return Ok((conn, c.ends[0].addr)),
                Some(c) => {
                    c.ends[1].gone = true;
                    if c.ends[0].gone {
                        self.conns.remove(&conn);
                    }
                }
                None => {}
            }
        }
        Err(would_block())
    }

    /// Starts a connection from `h` to `target`; returns the connection's id.
    pub(crate) fn tcp_connect(
        &mut self,
        h: HostId,
        target: SocketAddr,
        draw: &mut dyn FnMut() -> u64,
    ) -> io::Result<u64> {
        let dst = self.host_of(h, target.ip()).ok_or_else(|| {
            err(
                io::ErrorKind::ConnectionRefused,
                format!("no simulated host has the address {}", target.ip()),
            )
        })?;
        let port = self.ephemeral_port(h);
        let local = SocketAddr::new(self.hosts[h].ip, port);
        let server = SocketAddr::new(self.hosts[dst].ip, target.port());
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            conn,
            Conn {
                ends: [End::new(h, local), End::new(dst, server)],
                state: ConnectState::Pending,
                connect_waker: None,
                port: target.port(),
            },
        );
        self.send(h, dst, 0, NetEvent::Syn { conn }, draw);
        let timeout = self.now + self.cfg.connect_timeout;
        self.schedule(timeout, h, h, NetEvent::ConnectTimeout { conn });
        self.log
            .push(format!("conn {conn}: connect {local} -> {server}"));
        Ok(conn)
    }

    pub(crate) fn tcp_connect_state(&mut self, conn: u64, waker: &Waker) -> ConnectState {
        match self.conns.get_mut(&conn) {
            Some(c) => {
                if c.state == ConnectState::Pending {
                    c.connect_waker = Some(waker.clone());
                }
                c.state
            }
            None => ConnectState::Reset,
        }
    }

    pub(crate) fn tcp_addrs(&self, conn: u64, side: usize) -> (SocketAddr, SocketAddr) {
        match self.conns.get(&conn) {
            Some(c) => (c.ends[side].addr, c.ends[1 - side].addr),
            None => {
                let none = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
                (none, none)
            }
        }
    }

    pub(crate) fn tcp_attach(&mut self, conn: u64, side: usize, sio: &Arc<ScheduledIo>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let end = &mut c.ends[side];
            end.sio = Some(Arc::downgrade(sio));
            sio.set_readiness(end.readiness());
        }
    }

    /// Reads what end `side` has received (rule 5: all of it, up to `buf`'s length).
    pub(crate) fn tcp_read(
        &mut self,
        conn: u64,
        side: usize,
        buf: &mut [u8],
        peek: bool,
    ) -> io::Result<usize> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(io::ErrorKind::ConnectionReset.into());
        };
        let end = &mut c.ends[side];
        if !end.recv.is_empty() {
            let n = buf.len().min(end.recv.len());
            for (dst, src) in buf.iter_mut().zip(end.recv.iter()) {
                *dst = *src;
            }
            if !peek {
                end.recv.drain(..n);
                // Rule 4: room in the window again.
                let sender = &mut c.ends[1 - side];
                if sender.write_blocked {
                    sender.write_blocked = false;
                    sender.signal(WRITABLE, &mut self.pending_wakers);
                }
            }
            return Ok(n);
        }
        if end.reset {
            return Err(err(
                io::ErrorKind::ConnectionReset,
                "connection reset by the simulated peer".into(),
            ));
        }
        if end.eof || buf.is_empty() {
            return Ok(0);
        }
        Err(would_block())
    }

    /// Sends from end `side` what the window allows (rule 4).
    pub(crate) fn tcp_write(
        &mut self,
        conn: u64,
        side: usize,
        buf: &[u8],
        draw: &mut dyn FnMut() -> u64,
    ) -> io::Result<usize> {
        let window = self.cfg.window;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(io::ErrorKind::ConnectionReset.into());
        };
        let (me, peer) = (&c.ends[side], &c.ends[1 - side]);
        if me.reset {
            return Err(err(
                io::ErrorKind::ConnectionReset,
                "connection reset by the simulated peer".into(),
            ));
        }
        if me.write_shut {
            return Err(err(
                io::ErrorKind::BrokenPipe,
                "the write side of this connection is shut down".into(),
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let used = me.in_flight + peer.recv.len();
        let room = window.saturating_sub(used);
        if room == 0 {
            c.ends[side].write_blocked = true;
            return Err(would_block());
        }
        let n = room.min(buf.len()).min(SEGMENT);
        let (src, dst) = (me.host, peer.host);
        c.ends[side].in_flight += n;
        self.send(
            src,
            dst,
            n,
            NetEvent::Data {
                conn,
                to: 1 - side,
                bytes: buf[..n].to_vec(),
            },
            draw,
        );
        Ok(n)
    }

    pub(crate) fn tcp_shutdown_write(&mut self, conn: u64, side: usize) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let end = &mut c.ends[side];
        if end.write_shut || end.reset {
            return;
        }
        end.write_shut = true;
        let (src, dst) = (c.ends[side].host, c.ends[1 - side].host);
        let mut no_draw = || 0;
        self.send(
            src,
            dst,
            0,
            NetEvent::Fin { conn, to: 1 - side },
            &mut no_draw,
        );
    }

    /// The socket of end `side` was dropped.
    pub(crate) fn tcp_close(&mut self, conn: u64, side: usize) {
        let unread = self
            .conns
            .get(&conn)
            .is_some_and(|c| !c.ends[side].recv.is_empty() && !c.ends[side].reset);
        if unread {
            // Closed with data unread: a reset, not a FIN, as from a real stack (the peer's
            // blocked writes fail instead of waiting for a window that never opens).
            self.tcp_abandon(conn, side);
            return;
        }
        self.tcp_shutdown_write(conn, side);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.ends[side].gone = true;
            c.ends[side].sio = None;
            if c.ends[0].gone && c.ends[1].gone {
                self.conns.remove(&conn);
            }
        }
    }

    /// End `side` gives the connection up without a FIN: a connect abandoned or failed before
    /// its socket existed, or a close with data unread. The peer gets a reset, sent over the
    /// link (which keeps it after anything sent earlier, such as the connection request).
    pub(crate) fn tcp_abandon(&mut self, conn: u64, side: usize) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let end = &mut c.ends[side];
        let was_reset = end.reset;
        end.gone = true;
        end.reset = true;
        end.sio = None;
        end.recv.clear();
        let (src, dst) = (c.ends[side].host, c.ends[1 - side].host);
        let peer_gone = c.ends[1 - side].gone;
        if c.state == ConnectState::Pending {
            c.state = ConnectState::Reset;
        }
        if peer_gone {
            self.conns.remove(&conn);
        } else if !was_reset {
            let mut no_draw = || 0;
            self.send(
                src,
                dst,
                0,
                NetEvent::Rst { conn, to: 1 - side },
                &mut no_draw,
            );
        }
    }

    // ---- UDP ----

    /// Binds a UDP socket: its address and binding id.
    pub(crate) fn udp_bind(
        &mut self,
        h: HostId,
        addr: SocketAddr,
    ) -> io::Result<(SocketAddr, u64)> {
        let ip = self.local_ip(h, addr.ip())?;
        let port = self.free_port(h, addr.port(), "UDP", |net, p| {
            net.udp.contains_key(&(h, p))
        })?;
        let binding = self.next_binding();
        self.udp.insert(
            (h, port),
            Udp {
                binding,
                sio: None,
                queue: VecDeque::new(),
            },
        );
        Ok((SocketAddr::new(ip, port), binding))
    }

    pub(crate) fn udp_attach(
        &mut self,
        h: HostId,
        port: u16,
        binding: u64,
        sio: &Arc<ScheduledIo>,
    ) {
        if let Some(u) = self.udp_socket(h, port, binding) {
            u.sio = Some(Arc::downgrade(sio));
            sio.set_readiness(WRITABLE | if u.queue.is_empty() { 0 } else { READABLE });
        }
    }

    pub(crate) fn udp_unbind(&mut self, h: HostId, port: u16, binding: u64) {
        if self.udp_socket(h, port, binding).is_some() {
            self.udp.remove(&(h, port));
        }
    }

    pub(crate) fn udp_send(
        &mut self,
        h: HostId,
        from: SocketAddr,
        binding: u64,
        target: SocketAddr,
        buf: &[u8],
        draw: &mut dyn FnMut() -> u64,
    ) -> io::Result<usize> {
        if self.udp_socket(h, from.port(), binding).is_none() {
            return Err(err(
                io::ErrorKind::NotConnected,
                "the simulated socket is gone (its host crashed)".into(),
            ));
        }
        let Some(dst) = self.host_of(h, target.ip()) else {
            // Nobody has the address: the datagram goes nowhere, as on a real network.
            return Ok(buf.len());
        };
        let loss = self.link_cfg.get(&(h, dst)).unwrap_or(&self.cfg).loss;
        if loss > 0.0 && dst != h {
            let u = (draw() >> 11) as f64 / (1u64 << 53) as f64;
            // Zero, the plainest draw, is never a loss.
            if u > 1.0 - loss {
                self.log.push(format!("datagram {from} -> {target} lost"));
                return Ok(buf.len());
            }
        }
        self.send(
            h,
            dst,
            buf.len(),
            NetEvent::Datagram {
                to: (dst, target.port()),
                from,
                bytes: buf.to_vec(),
            },
            draw,
        );
        Ok(buf.len())
    }

    pub(crate) fn udp_recv(
        &mut self,
        h: HostId,
        port: u16,
        binding: u64,
        buf: &mut [u8],
        peek: bool,
        only_from: Option<SocketAddr>,
    ) -> io::Result<(usize, SocketAddr)> {
        let u = self.udp_socket(h, port, binding).ok_or_else(|| {
            err(
                io::ErrorKind::NotConnected,
                "the simulated socket is gone (its host crashed)".into(),
            )
        })?;
        if let Some(peer) = only_from {
            // A connected socket only receives from its peer; others are discarded.
            u.queue.retain(|(from, _)| *from == peer);
        }
        let (from, data) = u.queue.front().ok_or_else(would_block)?;
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        let from = *from;
        if !peek {
            u.queue.pop_front();
        }
        Ok((n, from))
    }
}
