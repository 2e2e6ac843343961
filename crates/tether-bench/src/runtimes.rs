//! The runtimes under test, and how each one is set up to run a benchmark's future.

use std::future::Future;
use std::rc::Rc;

/// One runtime under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Tether,
    TokioCt,
    Smol,
}

impl Runtime {
    /// Every runtime, in the order each round runs them.
    pub const ALL: [Runtime; 3] = [Runtime::Tether, Runtime::TokioCt, Runtime::Smol];

    /// The name used on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Tether => "tether",
            Runtime::TokioCt => "tokio-ct",
            Runtime::Smol => "smol",
        }
    }

    /// How the runtime is set up, for the report.
    pub fn setup(self) -> &'static str {
        match self {
            Runtime::Tether => "`tether::runtime::Builder::new_current_thread().build()`, `block_on` on the main thread",
            Runtime::TokioCt => {
                "`tokio::runtime::Builder::new_current_thread().enable_all().build()`, `block_on` on the main thread"
            }
            Runtime::Smol => {
                "`smol::LocalExecutor` run by `smol::block_on` on the main thread, which also drives \
                 the async-io reactor (timers) while it waits; no executor threads, but async-io \
                 starts its `async-io` helper thread, which drives the reactor when the main \
                 thread has not for a while"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|rt| rt.name() == name)
    }
}

/// Runs `future` on a fresh tether current-thread runtime.
pub fn tether<F: Future>(future: F) -> F::Output {
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .expect("tether-bench: could not build the tether runtime");
    rt.block_on(future)
}

/// Runs `future` on a fresh tokio current-thread runtime with I/O and timers enabled.
pub fn tokio<F: Future>(future: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tether-bench: could not build the tokio runtime");
    rt.block_on(future)
}

/// The executor a smol benchmark spawns onto.
pub type SmolExecutor = Rc<smol::LocalExecutor<'static>>;

/// Runs the future made by `make` on a fresh `smol::LocalExecutor`, driven by `smol::block_on`
/// on this thread. `make` receives the executor, to spawn onto it.
pub fn smol<M, F>(make: M) -> F::Output
where
    M: FnOnce(SmolExecutor) -> F,
    F: Future,
{
    let ex: SmolExecutor = Rc::new(smol::LocalExecutor::new());
    smol::block_on(ex.run(make(ex.clone())))
}
