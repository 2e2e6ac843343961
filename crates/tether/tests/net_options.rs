//! Socket options and facts the kernel keeps for a socket, as tokio's net types expose them:
//! a Unix stream's peer credentials, and a UDP socket's multicast, TTL and type-of-service
//! options. Loopback only; multicast group membership is tried on the loopback interface, where
//! a sandbox may refuse it, so those tests accept a refusal that says so and check the rest.

mod support;

use std::time::Duration;

use support::bounded::within;

/// Every test body's limit: none waits for anything but loopback.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `body` on a current-thread runtime, failing the test if it hangs.
fn run<F: std::future::Future<Output = ()> + 'static>(
    what: &'static str,
    body: impl FnOnce() -> F + Send + 'static,
) {
    within(LIMIT, what, move || {
        tether::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body());
    });
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "freebsd"
))]
mod peer_cred {
    use tether::net::{UnixListener, UnixStream};

    use super::run;

    /// This process's effective user and group ids, which the kernel reports to its peers.
    fn own_ids() -> (libc::uid_t, libc::gid_t) {
        // SAFETY: `geteuid` and `getegid` take nothing and cannot fail.
        unsafe { (libc::geteuid(), libc::getegid()) }
    }

    #[test]
    fn peer_cred_of_a_pair_is_this_process() {
        run("peer_cred of a pair", || async {
            let (a, b) = UnixStream::pair().unwrap();
            let cred = a.peer_cred().unwrap();
            assert_eq!((cred.uid(), cred.gid()), own_ids());
            assert_eq!(cred, b.peer_cred().unwrap());
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
            assert_eq!(cred.pid(), Some(std::process::id() as libc::pid_t));
            #[cfg(target_os = "freebsd")]
            assert_eq!(cred.pid(), None);
        });
    }

    /// The accepted side sees the connecting process, and the credentials stay readable after
    /// the peer has closed: they were recorded at connect time.
    #[test]
    fn peer_cred_of_an_accepted_connection_outlives_the_peer() {
        run("peer_cred of an accepted connection", || async {
            let dir = std::env::temp_dir().join(format!("tether-ucred-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("s.sock");
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path).unwrap();
            let client = UnixStream::connect(&path).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let seen_by_client = client.peer_cred().unwrap();
            drop(client);
            let seen_by_server = server.peer_cred().unwrap();
            assert_eq!((seen_by_server.uid(), seen_by_server.gid()), own_ids());
            #[cfg(target_os = "linux")]
            assert_eq!(
                seen_by_server.pid(),
                Some(std::process::id() as libc::pid_t)
            );
            assert_eq!(seen_by_client, seen_by_server);
            std::fs::remove_dir_all(&dir).unwrap();
        });
    }
}

mod udp {
    use std::io;
    use std::net::Ipv4Addr;

    use tether::net::UdpSocket;

    use super::run;

    /// Whether `e` is the refusal of a machine (or sandbox) without a usable multicast route or
    /// interface, rather than a mistake of tether's.
    #[cfg(unix)]
    fn is_no_multicast_here(e: &io::Error) -> bool {
        matches!(
            tether::io::os_error_of(e),
            Some(code) if [libc::ENODEV, libc::EADDRNOTAVAIL, libc::ENOBUFS, libc::EPERM,
                           libc::ENETUNREACH, libc::EINVAL]
                .contains(&code)
        )
    }

    #[test]
    fn udp_ttl_broadcast_and_multicast_getters_reflect_the_setters() {
        run("UDP option setters and getters", || async {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();

            s.set_ttl(17).unwrap();
            assert_eq!(s.ttl().unwrap(), 17);

            s.set_broadcast(true).unwrap();
            assert!(s.broadcast().unwrap());
            s.set_broadcast(false).unwrap();
            assert!(!s.broadcast().unwrap());

            assert!(s.multicast_loop_v4().unwrap(), "on by default");
            s.set_multicast_loop_v4(false).unwrap();
            assert!(!s.multicast_loop_v4().unwrap());
            s.set_multicast_loop_v4(true).unwrap();
            assert!(s.multicast_loop_v4().unwrap());

            assert_eq!(s.multicast_ttl_v4().unwrap(), 1, "the default");
            s.set_multicast_ttl_v4(9).unwrap();
            assert_eq!(s.multicast_ttl_v4().unwrap(), 9);
        });
    }

    #[test]
    fn udp_ipv6_multicast_loop_reflects_the_setter() {
        run("IPv6 multicast loop", || async {
            // A machine without IPv6 (some containers) cannot bind `::1`: nothing to check.
            let Ok(s) = UdpSocket::bind("[::1]:0").await else {
                return;
            };
            assert!(s.multicast_loop_v6().unwrap(), "on by default");
            s.set_multicast_loop_v6(false).unwrap();
            assert!(!s.multicast_loop_v6().unwrap());
        });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn udp_tos_v4_reflects_the_setter() {
        run("IP_TOS", || async {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            assert_eq!(s.tos_v4().unwrap(), 0);
            s.set_tos_v4(46 << 2).unwrap();
            assert_eq!(s.tos_v4().unwrap(), 46 << 2);
            #[allow(deprecated)]
            {
                s.set_tos(0x10).unwrap();
                assert_eq!(s.tos().unwrap(), 0x10);
            }
        });
    }

    /// Joining a group on the loopback interface and leaving it succeed, or fail only with a
    /// refusal that says the machine has no multicast there; leaving a group never joined fails.
    /// When the join succeeds, a datagram sent to the group on loopback arrives.
    #[cfg(unix)]
    #[test]
    fn udp_joins_and_leaves_an_ipv4_group_on_loopback() {
        run("IPv4 multicast membership", || async {
            let group = Ipv4Addr::new(239, 255, 42, 99);
            let receiver = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let port = receiver.local_addr().unwrap().port();
            match receiver.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
                Ok(()) => {
                    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    // Out through the loopback interface, looped back to the member.
                    socket2::SockRef::from(&sender)
                        .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
                        .unwrap();
                    sender.set_multicast_loop_v4(true).unwrap();
                    if sender.send_to(b"to the group", (group, port)).await.is_ok() {
                        let mut buf = [0u8; 32];
                        let got = tether::time::timeout(
                            std::time::Duration::from_secs(5),
                            receiver.recv_from(&mut buf),
                        )
                        .await;
                        // Some sandboxes filter multicast even on loopback: a datagram that
                        // arrives must be the one sent, and none arriving is not tether's fault.
                        if let Ok(got) = got {
                            let (n, _) = got.unwrap();
                            assert_eq!(&buf[..n], b"to the group");
                        }
                    }
                    receiver
                        .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
                        .unwrap();
                }
                Err(e) => assert!(is_no_multicast_here(&e), "unexpected error: {e:?}"),
            }
            let err = receiver
                .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
                .unwrap_err();
            assert!(
                err.kind() != io::ErrorKind::Unsupported,
                "an OS socket reports the OS's error: {err:?}"
            );
        });
    }

    #[test]
    fn udp_joining_a_unicast_address_fails_with_the_oss_error() {
        run("joining a unicast address", || async {
            let s = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let err = s
                .join_multicast_v4(Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::UNSPECIFIED)
                .unwrap_err();
            assert!(tether::io::os_error_of(&err).is_some(), "{err:?}");
        });
    }

    #[cfg(unix)]
    #[test]
    fn udp_joins_and_leaves_an_ipv6_group_or_says_why_not() {
        run("IPv6 multicast membership", || async {
            let Ok(s) = UdpSocket::bind("[::]:0").await else {
                return; // no IPv6 here
            };
            let group: std::net::Ipv6Addr = "ff02::1:3".parse().unwrap();
            match s.join_multicast_v6(&group, 0) {
                Ok(()) => s.leave_multicast_v6(&group, 0).unwrap(),
                Err(e) => assert!(is_no_multicast_here(&e), "unexpected error: {e:?}"),
            }
        });
    }

    /// Inside a simulation the options are accepted and ignored, and membership fails with
    /// `Unsupported` and a message that says why (the simulated network has no multicast).
    #[test]
    fn udp_options_in_a_simulation() {
        let mut sim = tether::sim::Sim::new(1);
        sim.client("c", async {
            let s = UdpSocket::bind("0.0.0.0:9000").await.unwrap();
            s.set_multicast_ttl_v4(5).unwrap();
            assert_eq!(s.multicast_ttl_v4().unwrap(), 1);
            s.set_multicast_loop_v4(false).unwrap();
            let err = s
                .join_multicast_v4(Ipv4Addr::new(239, 1, 2, 3), Ipv4Addr::UNSPECIFIED)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            assert!(err.to_string().contains("multicast"), "{err}");
        });
        sim.run().unwrap();
    }
}

mod tcp {
    use std::io;
    use std::time::Duration;

    use tether::io::AsyncReadExt;
    use tether::net::{TcpListener, TcpSocket};

    use super::run;

    use crate::support::net::tcp_pair;

    /// `set_zero_linger` makes the drop reset the connection: the peer's read fails with
    /// `ConnectionReset` instead of seeing the end of the stream.
    #[test]
    fn tcp_zero_linger_resets_the_connection_on_drop() {
        run("set_zero_linger", || async {
            let (client, mut server) = tcp_pair().await;
            assert_eq!(client.linger().unwrap(), None, "the default");
            client.set_zero_linger().unwrap();
            assert_eq!(client.linger().unwrap(), Some(Duration::ZERO));
            drop(client);
            let err = server.read(&mut [0u8; 8]).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
        });
    }

    #[test]
    fn tcp_socket_zero_linger_is_kept_by_the_stream() {
        run("TcpSocket::set_zero_linger", || async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_zero_linger().unwrap();
            assert_eq!(socket.linger().unwrap(), Some(Duration::ZERO));
            let stream = socket
                .connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            assert_eq!(stream.linger().unwrap(), Some(Duration::ZERO));
        });
    }

    /// The options tokio's `TcpStream` and `TcpListener` have, read back after being set.
    #[test]
    fn tcp_options_getters_reflect_the_setters() {
        run("TCP options", || async {
            let (client, _server) = tcp_pair().await;
            client.set_nodelay(true).unwrap();
            assert!(client.nodelay().unwrap());
            client.set_nodelay(false).unwrap();
            assert!(!client.nodelay().unwrap());
            client.set_ttl(33).unwrap();
            assert_eq!(client.ttl().unwrap(), 33);
            client.set_linger(Some(Duration::from_secs(2))).unwrap();
            assert_eq!(client.linger().unwrap(), Some(Duration::from_secs(2)));
            // Back to `None` before the drop, which would otherwise block for up to 2 s.
            client.set_linger(None).unwrap();
            assert_eq!(client.linger().unwrap(), None);

            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.set_ttl(21).unwrap();
            assert_eq!(listener.ttl().unwrap(), 21);
        });
    }
}
