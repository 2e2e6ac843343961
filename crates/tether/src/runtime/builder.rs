//! `Builder`: configure and create a runtime.

use std::io;
use std::time::Duration;

use super::Runtime;

/// Configures and builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// use tether::runtime::Builder;
///
/// let rt = Builder::new_current_thread()
///     .event_interval(61)
///     .build()
///     .unwrap();
/// rt.block_on(async { tether::task::yield_now().await });
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) start_paused: bool,
    pub(crate) event_interval: u32,
    pub(crate) max_blocking_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) blocking_thread_name: String,
}

impl Builder {
    /// A builder for the current-thread flavor: all tasks run on the thread inside
    /// [`Runtime::block_on`].
    pub fn new_current_thread() -> Builder {
        Builder {
            start_paused: false,
            event_interval: 61,
            max_blocking_threads: 512,
            keep_alive: Duration::from_secs(10),
            blocking_thread_name: "tether-blocking".to_string(),
        }
    }

    /// The most threads the blocking pool may run at once (default 512). Jobs beyond that wait
    /// in a queue for a free thread.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0.
    #[track_caller]
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Builder {
        assert!(
            n > 0,
            "Builder::max_blocking_threads must be at least 1 (default 512)"
        );
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking thread waits for a new job before it exits (default 10 s).
    pub fn thread_keep_alive(&mut self, d: Duration) -> &mut Builder {
        self.keep_alive = d;
        self
    }

    /// The name prefix of the blocking pool's threads (default `tether-blocking`); each thread
    /// gets `-N` appended.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
        self.blocking_thread_name = name.into();
        self
    }

    /// Starts the runtime with its clock paused (for tests): time stands still except through
    /// [`time::advance`](crate::time::advance), and when every task waits, the clock jumps to the
    /// next timer's deadline at once. See [`time::pause`](crate::time::pause).
    pub fn start_paused(&mut self, paused: bool) -> &mut Builder {
        self.start_paused = paused;
        self
    }

    /// How many tasks the scheduler runs before it checks the reactor for I/O and timers even
    /// when tasks are still ready (default 61). Lower is fairer to I/O, higher has less overhead.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0.
    #[track_caller]
    pub fn event_interval(&mut self, n: u32) -> &mut Builder {
        assert!(
            n > 0,
            "Builder::event_interval must be at least 1 (default 61)"
        );
        self.event_interval = n;
        self
    }

    /// Creates the runtime.
    ///
    /// # Errors
    ///
    /// Fails when the operating system refuses the reactor's resources (an epoll instance and an
    /// eventfd), typically because the process is out of file descriptors.
    pub fn build(&mut self) -> io::Result<Runtime> {
        Runtime::new(self).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("tether: could not create the runtime's reactor: {e}"),
            )
        })
    }
}
