//! `CancelToken`: a cancellation signal that tasks observe, in a tree.
//!
//! Rules:
//! 1. A token goes from "not cancelled" to "cancelled" once and never back.
//! 2. Cancelling a token cancels every token created from it with `child_token` (and their
//!    children), so cancelling an outer scope reaches every inner scope's tasks.
//! 3. A `cancelled()` future registers its waker under the token's lock and re-checks the flag
//!    there; `cancel` sets the flag before it takes the wakers under the same lock, so a waiter is
//!    never missed. Wakers are woken after the lock is released.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;

struct Node {
    cancelled: AtomicBool,
    /// Waiters and children; holding the lock means neither list can change (rule 3).
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    waiters: Slab<Waker>,
    children: Vec<Weak<Node>>,
}

/// A cancellation signal shared by clones, organised in a tree.
///
/// Scopes give one to each of their tasks (see [`task::cancelled`](crate::task::cancelled)); you
/// can also make your own. Cancelling is cooperative: it wakes whoever awaits
/// [`cancelled`](CancelToken::cancelled) and sets a flag that code can check with
/// [`is_cancelled`](CancelToken::is_cancelled); nothing is interrupted by force.
///
/// # Examples
///
/// ```
/// use tether::scope::CancelToken;
///
/// #[tether::main]
/// async fn main() {
///     let token = CancelToken::new();
///     let child = token.child_token();
///     let waiter = tether::spawn(async move {
///         child.cancelled().await;
///         "stopped cleanly"
///     });
///     token.cancel();
///     assert_eq!(waiter.await.unwrap(), "stopped cleanly");
/// }
/// ```
#[derive(Clone)]
pub struct CancelToken {
    node: Arc<Node>,
}

impl Default for CancelToken {
    fn default() -> CancelToken {
        CancelToken::new()
    }
}

impl CancelToken {
    /// A new token, not cancelled, with no parent.
    pub fn new() -> CancelToken {
        CancelToken {
            node: Arc::new(Node {
                cancelled: AtomicBool::new(false),
                inner: Mutex::new(Inner::default()),
            }),
        }
    }

    /// A token that is cancelled when this one is (rule 2), and can also be cancelled on its own
    /// without affecting this one.
    pub fn child_token(&self) -> CancelToken {
        let child = CancelToken::new();
        {
            let mut inner = lock(&self.node.inner);
            if !self.node.cancelled.load(Ordering::Acquire) {
                inner.children.retain(|w| w.strong_count() > 0);
                inner.children.push(Arc::downgrade(&child.node));
                return child;
            }
        }
        child.cancel();
        child
    }

    /// Cancels the token and every token below it (rules 1, 2). Cancelling again does nothing.
    pub fn cancel(&self) {
        if self.node.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        let (wakers, children) = {
            let mut inner = lock(&self.node.inner);
            let wakers: Vec<Waker> = inner.waiters.drain().collect();
            (wakers, std::mem::take(&mut inner.children))
        };
        wakers.into_iter().for_each(Waker::wake);
        for child in children.iter().filter_map(Weak::upgrade) {
            CancelToken { node: child }.cancel();
        }
    }

    /// Whether the token was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.node.cancelled.load(Ordering::Acquire)
    }

    /// Completes once the token is cancelled (at once if it already is).
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            node: self.node.clone(),
            key: None,
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The future of [`CancelToken::cancelled`] and [`task::cancelled`](crate::task::cancelled).
#[must_use = "a Cancelled future does nothing unless awaited"]
pub struct Cancelled {
    node: Arc<Node>,
    /// Our waker's slot in the node's waiters, while registered.
    key: Option<usize>,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.node.cancelled.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let node = self.node.clone();
        let mut inner = lock(&node.inner);
        if node.cancelled.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        match self.key {
            Some(k) if inner.waiters.contains(k) => {
                if !inner.waiters[k].will_wake(cx.waker()) {
                    inner.waiters[k] = cx.waker().clone();
                }
            }
            _ => self.key = Some(inner.waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            let removed = {
                let mut inner = lock(&self.node.inner);
                inner.waiters.try_remove(k)
            };
            drop(removed);
        }
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cancelled")
    }
}
