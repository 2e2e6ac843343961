//! `CancelToken`: a cancellation signal that tasks observe, in a tree.
//!
//! A token is an `Arc<TokenNode>`. A scope's token node also carries the scope's shared state
//! ([`TokenNode::scope`]), so a scope is one allocation (see `state.rs`).
//!
//! Rules:
//! 1. A token goes from "not cancelled" to "cancelled" once and never back (a node is reset
//!    only when it is recycled, which needs sole ownership: no token can see it).
//! 2. Cancelling a token cancels every token created from it with `child_token` (and their
//!    children), so cancelling an outer scope reaches every inner scope's tasks.
//! 3. A `cancelled()` future registers its waker under the token's lock and re-checks the flag
//!    there; `cancel` sets the flag before it takes the wakers under the same lock, so a waiter is
//!    never missed. Wakers are woken after the lock is released. A future polled again with the
//!    waker it registered returns `Pending` on the flag alone, without the lock: its waker is
//!    still in the list (only `cancel`, which sets the flag first, and the future itself remove
//!    it), so a `cancel` the flag does not show yet will wake it.
//! 4. A child is listed in its parent's `children` (a `Weak`, at the key stored in the child's
//!    `parent` link) from its creation until it is dropped or recycled, which unlists it; nothing
//!    is listed after the parent was cancelled (`cancel` empties the list for good). A child node
//!    is never dropped under its parent's lock (only `Weak`s are dropped there), so unlisting,
//!    which takes that lock, cannot deadlock.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
// std's `Arc` and `Weak`, not the loom shim's: a parent lists its children by `Weak` (rule 4),
// which loom lacks. What the tree's protocol rests on (the flag, the lock) is the shim's.
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::state::ScopeState;
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;
use crate::task::waker_id::WakerId;

/// One token of the tree, shared by the token's clones.
pub(super) struct TokenNode {
    cancelled: AtomicBool,
    /// Waiters and children; holding the lock means neither list can change (rule 3).
    lists: Mutex<Lists>,
    /// The parent and our key in its `children` (rule 4); written only while the node is not
    /// shared (at creation, or through `Arc::get_mut` when recycled).
    parent: Option<Link>,
    /// The scope's state when this node is a scope's token; `None` for a plain token.
    pub(super) scope: Option<ScopeState>,
    /// The registry list of a scope's children (`task/registry.rs`), shared with the registry;
    /// kept when the node is recycled. `None` until the node is first a scope's.
    pub(super) children: Option<Arc<crate::task::registry::TaskList>>,
    /// What the task dump shows about the `JoinSet` whose tasks carry this node as their
    /// `TaskMeta::scope`; such a node is never listed under a parent nor cancelled, and its
    /// tasks wait on the runtime's root token instead (`TaskMeta::cancel_token`).
    pub(super) join_set: Option<crate::task::JoinSetDesc>,
    /// The runtime a scope's children or a `JoinSet`'s tasks run on, for the tasks whose
    /// metadata holds this node in place of their runtime (`TaskMeta::shared`); `None` for a
    /// plain token, and cleared when a scope's node is reset for reuse.
    pub(super) runtime: Option<RuntimeArc>,
}

/// The runtime's own `Arc` (the loom shim's, unlike the tree's).
type RuntimeArc = crate::loom::sync::Arc<crate::runtime::RuntimeShared>;

#[derive(Default)]
struct Lists {
    waiters: Slab<Waker>,
    children: Slab<Weak<TokenNode>>,
}

/// A node's place in its parent's `children` (rule 4).
struct Link {
    parent: Arc<TokenNode>,
    key: usize,
}

#[cold]
#[inline(never)]
fn no_group_runtime() -> ! {
    panic!("tether: a task's group token has no runtime (a bug in tether)")
}

impl TokenNode {
    /// A node with no parent, not cancelled.
    pub(super) fn new(scope: Option<ScopeState>) -> TokenNode {
        TokenNode {
            cancelled: AtomicBool::new(false),
            lists: Mutex::new(Lists::default()),
            parent: None,
            scope,
            children: None,
            join_set: None,
            runtime: None,
        }
    }

    /// Lists `child` (which must not be shared yet) under `parent` (rule 4), or cancels it if the
    /// parent already is (rule 2).
    pub(super) fn attach(child: &mut Arc<TokenNode>, parent: &Arc<TokenNode>) {
        let mut lists = lock(&parent.lists);
        let node = Arc::get_mut(child).expect("tether: a new token node is not shared yet");
        if parent.cancelled.load(Ordering::Acquire) {
            node.cancelled.store(true, Ordering::Release);
            return;
        }
        let entry = lists.children.vacant_entry();
        node.parent = Some(Link {
            parent: parent.clone(),
            key: entry.key(),
        });
        entry.insert(Arc::downgrade(child));
    }

    /// Removes this node from its parent's `children` (rule 4); the link itself stays until the
    /// node is reset or dropped.
    pub(super) fn unlist(&self) {
        if let Some(link) = &self.parent {
            let removed = {
                let mut lists = lock(&link.parent.lists);
                // The key may be empty (the parent was cancelled and emptied the list) or, after
                // an earlier `unlist`, reused by another child: only remove our own entry.
                match lists.children.get(link.key) {
                    Some(w) if std::ptr::eq(w.as_ptr(), self) => {
                        Some(lists.children.remove(link.key))
                    }
                    _ => None,
                }
            };
            drop(removed);
        }
    }

    /// Makes a node that nobody else can see new again: not cancelled, no parent, no waiter, no
    /// scope. Keeps the lists' storage (unless it grew large), so reusing it allocates nothing.
    pub(super) fn reset(&mut self) {
        const KEEP: usize = 64;
        self.cancelled.store(false, Ordering::Relaxed);
        self.parent = None;
        self.scope = None;
        self.runtime = None;
        let mut lists = lock(&self.lists);
        if lists.waiters.capacity() > KEEP || lists.children.capacity() > KEEP {
            *lists = Lists::default();
        } else {
            lists.waiters.clear();
            lists.children.clear();
        }
    }

    #[inline]
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Rules 1, 2: cancels this node and every node below it.
    pub(super) fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        let (wakers, children) = {
            let mut lists = lock(&self.lists);
            let wakers: Vec<Waker> = lists.waiters.drain().collect();
            (wakers, std::mem::take(&mut lists.children))
        };
        wakers.into_iter().for_each(Waker::wake);
        // Each upgraded child is dropped outside our lock (rule 4).
        for (_, child) in children {
            if let Some(child) = child.upgrade() {
                child.cancel();
            }
        }
    }

    /// Ready once the node is cancelled; otherwise registers `cx`'s waker in slot `key`, whose
    /// identity `registered` remembers (rule 3).
    pub(super) fn poll_cancelled(
        &self,
        key: &mut Option<usize>,
        registered: &mut WakerId,
        cx: &Context<'_>,
    ) -> Poll<()> {
        if self.is_cancelled() {
            return Poll::Ready(());
        }
        // Rule 3: the waker in slot `key` is this one, and stays there until a `cancel` wakes it.
        if key.is_some() && registered.is(cx.waker()) {
            return Poll::Pending;
        }
        let mut lists = lock(&self.lists);
        if self.is_cancelled() {
            return Poll::Ready(());
        }
        match *key {
            Some(k) if lists.waiters.contains(k) => {
                if !lists.waiters[k].will_wake(cx.waker()) {
                    lists.waiters[k] = cx.waker().clone();
                }
            }
            _ => *key = Some(lists.waiters.insert(cx.waker().clone())),
        }
        *registered = WakerId::of(cx.waker());
        Poll::Pending
    }

    /// Removes the waker registered in slot `key`, if any.
    pub(super) fn unregister(&self, key: &mut Option<usize>) {
        if let Some(k) = key.take() {
            // After a `cancel` the list is empty and stays so (nothing registers on a cancelled
            // node), so a stale key cannot remove another waiter.
            let removed = lock(&self.lists).waiters.try_remove(k);
            drop(removed);
        }
    }
}

impl Drop for TokenNode {
    fn drop(&mut self) {
        self.unlist();
    }
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
    pub(super) node: Arc<TokenNode>,
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
            node: Arc::new(TokenNode::new(None)),
        }
    }

    /// A token that is cancelled when this one is (rule 2), and can also be cancelled on its own
    /// without affecting this one.
    pub fn child_token(&self) -> CancelToken {
        let mut node = Arc::new(TokenNode::new(None));
        TokenNode::attach(&mut node, &self.node);
        CancelToken { node }
    }

    /// Cancels the token and every token below it (rules 1, 2). Cancelling again does nothing.
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// Whether the token was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Completes once the token is cancelled (at once if it already is).
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            node: self.node.clone(),
            key: None,
            registered: WakerId::NONE,
        }
    }

    /// The token a `JoinSet` gives its tasks on the runtime `rt`: it only names the set in
    /// the task dump, and tells its tasks' metadata their runtime. It has no parent and nothing
    /// cancels it; its tasks observe the runtime's root token, as tasks spawned with
    /// `tether::spawn` do.
    pub(crate) fn for_join_set(desc: crate::task::JoinSetDesc, rt: &RuntimeArc) -> CancelToken {
        let mut node = TokenNode::new(None);
        node.join_set = Some(desc);
        node.runtime = Some(rt.clone());
        CancelToken {
            node: Arc::new(node),
        }
    }

    /// The runtime of the scope's children or the join set's tasks (`TaskMeta::shared`).
    ///
    /// # Panics
    ///
    /// When this is a plain token, which no task's metadata holds.
    #[inline]
    pub(crate) fn group_runtime(&self) -> &RuntimeArc {
        match &self.node.runtime {
            Some(rt) => rt,
            None => no_group_runtime(),
        }
    }

    /// Whether this is a `JoinSet`'s token ([`for_join_set`](Self::for_join_set)).
    pub(crate) fn is_join_set(&self) -> bool {
        self.node.join_set.is_some()
    }

    /// The registry list of the scope's children when this is a scope's token
    /// (`task/registry.rs`).
    #[inline]
    pub(crate) fn scope_children(&self) -> Option<&crate::task::registry::TaskList> {
        self.node.children.as_deref()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("CancelToken");
        d.field("cancelled", &self.is_cancelled());
        if let Some(desc) = super::describe(self) {
            d.field("scope", &desc);
        }
        d.finish()
    }
}

/// The future of [`CancelToken::cancelled`] and [`task::cancelled`](crate::task::cancelled).
#[must_use = "a Cancelled future does nothing unless awaited"]
pub struct Cancelled {
    node: Arc<TokenNode>,
    /// Our waker's slot in the node's waiters, while registered.
    key: Option<usize>,
    /// The identity of the waker in that slot (rule 3).
    registered: WakerId,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.node
            .poll_cancelled(&mut this.key, &mut this.registered, cx)
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        self.node.unregister(&mut self.key);
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cancelled")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn children(t: &CancelToken) -> usize {
        lock(&t.node.lists).children.len()
    }

    #[test]
    fn a_dropped_child_token_leaves_its_parent() {
        let parent = CancelToken::new();
        let a = parent.child_token();
        let b = parent.child_token();
        assert_eq!(children(&parent), 2);
        drop(a);
        assert_eq!(children(&parent), 1);
        let c = b.child_token();
        parent.cancel();
        assert!(b.is_cancelled() && c.is_cancelled());
        assert_eq!(children(&parent), 0);
        drop((b, c));
        // Created after the cancellation: cancelled at once, not listed.
        assert!(parent.child_token().is_cancelled());
        assert_eq!(children(&parent), 0);
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// Rule 3's lock-free poll: a `cancelled()` future polled again with its registered waker
    /// while another thread cancels the token is never left pending unwoken: a poll that starts
    /// after the wake was seen is ready, and a poll that returns pending is followed by a wake.
    #[test]
    fn loom_a_registered_waiter_polled_during_cancel_is_ready_or_woken() {
        loom::model(|| {
            let token = CancelToken::new();
            // A task's waker: the lock-free poll knows only those (`WakerId`).
            let count = crate::loom::sync::Arc::new(AtomicUsize::new(0));
            let (task, waker, runnable) = crate::task::raw::loom_support::counted_task(&count);
            let mut cx = Context::from_waker(&waker);
            let mut fut = token.cancelled();
            assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
            let canceller = {
                let token = token.clone();
                thread::spawn(move || token.cancel())
            };
            let seen = count.load(Ordering::SeqCst);
            let ready = Pin::new(&mut fut).poll(&mut cx).is_ready();
            if seen > 0 {
                assert!(ready, "polled after the wake, still pending");
            }
            canceller.join().unwrap();
            if !ready {
                assert_eq!(count.load(Ordering::SeqCst), 1, "pending and never woken");
            }
            drop((fut, waker, task, runnable.lock().unwrap().take()));
        });
    }
}
