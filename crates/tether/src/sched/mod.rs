//! Schedulers: which task runs next, and when the thread sleeps.
//!
//! Today one flavor, [`current_thread`]: every task of the runtime runs on the thread inside
//! `Runtime::block_on`. Tasks reach the scheduler through [`schedule`], the schedule function of
//! every task cell.

pub(crate) mod current_thread;

use async_task::{Runnable, ScheduleInfo};

use crate::task::meta::TaskMeta;

/// Hands a woken task to its runtime's scheduler.
#[inline]
pub(crate) fn schedule(runnable: Runnable<TaskMeta>, info: ScheduleInfo) {
    if runnable.metadata().blocking {
        let rt = runnable.metadata().shared.clone();
        rt.blocking.push(&rt, runnable);
        return;
    }
    current_thread::schedule(runnable, info);
}
