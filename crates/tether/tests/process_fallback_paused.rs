//! The portable fallback of child processes (`wait` tries `waitpid(WNOHANG)` between pauses,
//! forced with `tether::__private::force_wait_by_polling`) under a paused clock: the pauses are
//! real time, and the clock does not jump while a child is waited for. Its own binary: it
//! measures the process's CPU time, which other tests running beside it would add to.
#![cfg(unix)]

mod support;

use std::time::Duration;

use tether::process::Command;
use tether::runtime::Builder;
use tether::time::Instant;

/// CPU time (user and system) this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: `rusage` is plain data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `getrusage` writes into `usage`, a live local, and touches nothing else.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Waiting by polling for a 300 ms child with a paused clock and nothing else to do: the
/// pauses between tries do not let the clock jump from one to the next (which spun the thread
/// through hours of virtual time), so the virtual clock stays near where it was and the wait
/// costs the process far less CPU than the child's run time.
#[test]
fn waiting_by_polling_on_a_paused_clock_neither_spins_nor_jumps_the_clock() {
    tether::__private::force_wait_by_polling(true);
    let (advanced, cpu, code) =
        support::bounded::within(Duration::from_secs(20), "the wait", || {
            let rt = Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
                let cpu = cpu_time();
                let start = Instant::now();
                let status = child.wait().await.unwrap();
                (start.elapsed(), cpu_time() - cpu, status.code())
            })
        });
    assert_eq!(code, Some(0));
    assert!(
        advanced < Duration::from_secs(2),
        "the paused clock jumped {advanced:?} during a 300 ms wait"
    );
    assert!(
        cpu < Duration::from_millis(100),
        "waiting 300 ms for a child cost {cpu:?} of CPU"
    );
}
