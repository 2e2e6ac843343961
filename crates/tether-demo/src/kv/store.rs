//! The keyspace: keys to values (strings and lists) in shards, each behind its own lock, and
//! expiry on tether's timers.
//!
//! # Protocol
//!
//! 1. **A key lives in one shard**, chosen by a hash of the key. The shard's hash is a fast
//!    keyed mix (`shard_hash`), not the map's SipHash: hashing every key twice with SipHash was
//!    7% of a `GET`'s instructions, and the shard hash needs no resistance to collisions made on
//!    purpose (keys forced into one shard contend for its lock, nothing worse; the map inside
//!    keeps std's keyed SipHash against hash flooding). A shard is a `std` mutex over a
//!    `HashMap`; it is held only for the few operations of one command, never across an
//!    `.await`. A command on several keys (`MSET`, `MGET`, `DEL`, `EXISTS`, `FLUSHALL`,
//!    `DBSIZE`) locks every shard it needs in index order ([`Db::lock_shards`]), so it is atomic
//!    like in Redis and two such commands cannot deadlock.
//! 2. **Each key with a time to live is filed twice**: in its entry (`Entry::expiry`) and in
//!    its shard's deadline index (`Shard::deadlines`, ordered by deadline). The two always agree:
//!    every change of an entry's expiry, and every removal of an entry, goes through the shard's
//!    methods that update both.
//! 3. **Lazy expiry**: reading a key whose deadline has passed removes it first, so no command
//!    ever sees an expired key, whenever the active expiry below runs.
//! 4. **Active expiry** with no scan of all keys: one task ([`run_expiry`]) sleeps until the
//!    earliest deadline of all shards (the first of each shard's index) and then removes what is
//!    due, from the front of each index, in batches (the lock is released between batches).
//! 5. **Waking the expiry task early**: `ExpiryWake::planned` holds when it will wake next
//!    (`u64::MAX`: not before it is notified). A command that files a deadline does so under its
//!    shard's lock, then, after releasing it, notifies the task if the deadline is earlier than
//!    `planned`. The task sets `planned` to `u64::MAX` *before* it looks at the shards and to the
//!    deadline it found after, so a deadline filed while it looks either is seen by its look or
//!    finds `planned` at `u64::MAX` (or at a later deadline) and notifies; `Notify` keeps the
//!    permit, so the task looks again instead of sleeping past it.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tether::sync::Notify;
use tether::time::{sleep_until, Instant};

/// How many due keys the expiry task removes per lock of a shard.
const EXPIRY_BATCH: usize = 256;

/// A value: Redis's string and list types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string (any bytes).
    Str(Vec<u8>),
    /// A list, pushed and popped at both ends.
    List(VecDeque<Vec<u8>>),
}

/// A key's deadline: when, and the ticket that files it in its shard's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline {
    at: Instant,
    ticket: u64,
}

/// What a key maps to.
#[derive(Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// When the key expires, if it does (rule 2: only the shard changes it).
    expiry: Option<Deadline>,
}

impl Entry {
    /// When the key expires, if it does.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expiry.map(|d| d.at)
    }
}

/// The time of one command, read from the runtime's clock at most once and only if a key with
/// a deadline is touched.
#[derive(Debug, Default)]
pub struct Now(Option<Instant>);

impl Now {
    /// Not read yet.
    pub fn new() -> Now {
        Now(None)
    }

    /// The time, read on first use.
    pub fn get(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

/// One shard of the keyspace (rule 1). Holding its lock means owning every field.
#[derive(Debug, Default)]
pub struct Shard {
    map: HashMap<Box<[u8]>, Entry>,
    /// The keys that have a deadline, earliest first (rule 2).
    deadlines: BTreeMap<Deadline, Box<[u8]>>,
    next_ticket: u64,
    /// The earliest deadline filed under this lock since the last look of the expiry task,
    /// for the notification after the lock is released (rule 5).
    filed: Option<Instant>,
}

impl Shard {
    /// The key's live entry: `None` if absent, and if it is expired it is removed first
    /// (rule 3).
    pub fn get_mut(&mut self, key: &[u8], now: &mut Now) -> Option<&mut Entry> {
        if !self.deadlines.is_empty() && self.is_expired(key, now) {
            self.remove(key);
            return None;
        }
        self.map.get_mut(key)
    }

    /// Whether `key` is live (present and not expired).
    pub fn contains(&mut self, key: &[u8], now: &mut Now) -> bool {
        self.get_mut(key, now).is_some()
    }

    fn is_expired(&self, key: &[u8], now: &mut Now) -> bool {
        self.map
            .get(key)
            .and_then(|e| e.expiry)
            .is_some_and(|d| d.at <= now.get())
    }

    /// Sets `key` to the string `value`. Its deadline is cleared unless `keep_ttl`. An existing
    /// string's buffer is reused when it is large enough.
    pub fn set_str(&mut self, key: &[u8], value: &[u8], keep_ttl: bool) {
        match self.map.get_mut(key) {
            Some(e) => {
                if !keep_ttl {
                    if let Some(d) = e.expiry.take() {
                        self.deadlines.remove(&d);
                    }
                }
                match &mut e.value {
                    Value::Str(s)
                        if s.capacity() >= value.len() && s.capacity() <= 2 * value.len() + 64 =>
                    {
                        s.clear();
                        s.extend_from_slice(value);
                    }
                    other => *other = Value::Str(value.to_vec()),
                }
            }
            None => {
                self.map.insert(
                    key.into(),
                    Entry {
                        value: Value::Str(value.to_vec()),
                        expiry: None,
                    },
                );
            }
        }
    }

    /// Inserts or replaces `key` with `value`, with no deadline.
    pub fn insert(&mut self, key: &[u8], value: Value) {
        if let Some(old) = self.map.insert(
            key.into(),
            Entry {
                value,
                expiry: None,
            },
        ) {
            if let Some(d) = old.expiry {
                self.deadlines.remove(&d);
            }
        }
    }

    /// Removes `key` (expired or not); its entry if it was there.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.remove(key)?;
        if let Some(d) = e.expiry {
            self.deadlines.remove(&d);
        }
        Some(e)
    }

    /// Sets or clears the deadline of `key`, which must be live; `false` if it is absent.
    pub fn set_expiry(&mut self, key: &[u8], at: Option<Instant>) -> bool {
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        if let Some(d) = e.expiry.take() {
            self.deadlines.remove(&d);
        }
        if let Some(at) = at {
            let d = Deadline {
                at,
                ticket: self.next_ticket,
            };
            self.next_ticket += 1;
            e.expiry = Some(d);
            let k = self.deadlines.entry(d).or_insert_with(|| key.into());
            debug_assert_eq!(&**k, key);
            self.filed = Some(self.filed.map_or(at, |f| f.min(at)));
        }
        true
    }

    /// How many keys the shard holds, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the shard holds no key.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.map.clear();
        self.deadlines.clear();
    }

    /// Removes up to `max` keys whose deadline is at or before `now`, earliest first; returns
    /// how many it removed.
    fn expire_due(&mut self, now: Instant, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(entry) = self.deadlines.first_entry() else {
                break;
            };
            if entry.key().at > now {
                break;
            }
            let key = entry.remove();
            let removed = self.map.remove(&key);
            debug_assert!(removed.is_some(), "rule 2: an indexed key has an entry");
            n += 1;
        }
        n
    }

    fn earliest(&self) -> Option<Instant> {
        self.deadlines.first_key_value().map(|(d, _)| d.at)
    }
}

/// A shard's lock, alone on its cache lines so that two workers on two shards do not slow each
/// other down.
#[repr(align(128))]
#[derive(Debug, Default)]
struct ShardLock(Mutex<Shard>);

/// The expiry task's alarm clock (rules 4 and 5).
#[derive(Debug, Default)]
struct ExpiryWake {
    /// When the task will look next, in nanoseconds since `epoch`; `u64::MAX`: when notified.
    planned: AtomicU64,
    notify: Notify,
    /// The origin of `planned`, set on first use (on the runtime's clock, paused or not).
    epoch: OnceLock<Instant>,
}

impl ExpiryWake {
    fn nanos(&self, at: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(Instant::now);
        u64::try_from(at.duration_since(epoch).as_nanos()).unwrap_or(u64::MAX - 1)
    }
}

/// The keyspace: shards of keys, plus the state the expiry task shares with the commands.
#[derive(Debug)]
pub struct Db {
    shards: Box<[ShardLock]>,
    /// The key of `shard_hash`, random per keyspace.
    shard_seed: u64,
    wake: ExpiryWake,
    /// Keys removed by the expiry task (not those removed on access).
    expired: AtomicU64,
}

/// The shards one command locked, in index order (rule 1).
pub struct ShardGuards<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
    db: &'a Db,
}

impl ShardGuards<'_> {
    /// The locked shard that holds `key`.
    ///
    /// # Panics
    ///
    /// Panics if that shard was not locked (a key not passed to [`Db::lock_shards`]).
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        let i = self.db.shard_index(key);
        let pos = self
            .guards
            .binary_search_by_key(&i, |(j, _)| *j)
            .expect("the shard of a key the command did not lock");
        &mut self.guards[pos].1
    }

    /// Runs `f` on every locked shard.
    pub fn for_each(&mut self, mut f: impl FnMut(&mut Shard)) {
        for (_, g) in &mut self.guards {
            f(g);
        }
    }
}

impl Drop for ShardGuards<'_> {
    fn drop(&mut self) {
        let mut filed = None::<Instant>;
        for (_, g) in &mut self.guards {
            if let Some(f) = g.filed.take() {
                filed = Some(filed.map_or(f, |x| x.min(f)));
            }
        }
        self.guards.clear();
        if let Some(at) = filed {
            self.db.deadline_filed(at);
        }
    }
}

impl Db {
    /// An empty keyspace of `shards` shards (at least one).
    pub fn new(shards: usize) -> Db {
        Db {
            shards: (0..shards.max(1)).map(|_| ShardLock::default()).collect(),
            shard_seed: RandomState::new().hash_one(0x6b76_u64),
            wake: ExpiryWake {
                planned: AtomicU64::new(u64::MAX),
                ..ExpiryWake::default()
            },
            expired: AtomicU64::new(0),
        }
    }

    fn shard_index(&self, key: &[u8]) -> usize {
        (shard_hash(self.shard_seed, key) % self.shards.len() as u64) as usize
    }

    /// Runs `f` on the shard of `key`, under its lock.
    pub fn with_shard<R>(&self, key: &[u8], f: impl FnOnce(&mut Shard) -> R) -> R {
        let mut shard = lock(&self.shards[self.shard_index(key)].0);
        let r = f(&mut shard);
        let filed = shard.filed.take();
        drop(shard);
        if let Some(at) = filed {
            self.deadline_filed(at);
        }
        r
    }

    /// Locks the shards of every key in `keys`, in index order.
    pub fn lock_shards<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> ShardGuards<'_> {
        let mut idx: Vec<usize> = keys.map(|k| self.shard_index(k)).collect();
        idx.sort_unstable();
        idx.dedup();
        self.lock_indices(idx)
    }

    /// Locks every shard, in index order.
    pub fn lock_all(&self) -> ShardGuards<'_> {
        self.lock_indices((0..self.shards.len()).collect())
    }

    fn lock_indices(&self, idx: Vec<usize>) -> ShardGuards<'_> {
        ShardGuards {
            guards: idx
                .into_iter()
                .map(|i| (i, lock(&self.shards[i].0)))
                .collect(),
            db: self,
        }
    }

    /// Keys removed by the expiry task so far.
    pub fn expired_by_timer(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// A deadline was filed at `at`: wake the expiry task if it plans to look later (rule 5).
    fn deadline_filed(&self, at: Instant) {
        if self.wake.nanos(at) < self.wake.planned.load(Ordering::SeqCst) {
            self.wake.notify.notify_one();
        }
    }

    /// Removes what is due at `now` from every shard, in batches; the earliest deadline left.
    async fn expire_due(&self, now: Instant) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        for s in self.shards.iter() {
            loop {
                let (removed, next) = {
                    let mut shard = lock(&s.0);
                    let removed = shard.expire_due(now, EXPIRY_BATCH);
                    (removed, shard.earliest())
                };
                self.expired.fetch_add(removed as u64, Ordering::Relaxed);
                if removed < EXPIRY_BATCH {
                    if let Some(n) = next {
                        earliest = Some(earliest.map_or(n, |e| e.min(n)));
                    }
                    break;
                }
                // A large batch: let the connections of this thread run before the next one.
                tether::task::yield_now().await;
            }
        }
        earliest
    }
}

/// Rule 1's shard hash: eight bytes at a time, each folded in with a multiply and the high half
/// mixed down, then a final avalanche (the finalizer of SplitMix64), so every bit of the key
/// reaches the low bits that pick the shard.
fn shard_hash(seed: u64, key: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(K);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let word = u64::from_le_bytes(c.try_into().expect("chunks of eight"));
        h = (h ^ word).wrapping_mul(K);
        h ^= h >> 29;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The active expiry task (rules 4 and 5): runs until the task is cancelled (the server's
/// shutdown), removing keys as their deadlines pass.
pub async fn run_expiry(db: Arc<Db>) {
    let stop = tether::task::cancelled();
    let work = async {
        loop {
            db.wake.planned.store(u64::MAX, Ordering::SeqCst);
            let next = db.expire_due(Instant::now()).await;
            let planned = next.map_or(u64::MAX, |at| db.wake.nanos(at));
            db.wake.planned.store(planned, Ordering::SeqCst);
            let notified = db.wake.notify.notified();
            match next {
                Some(at) => {
                    // The wheel's 1 ms ticks may fire a hair early: look again a tick late
                    // rather than spin.
                    tether::select! {
                        _ = sleep_until(at + Duration::from_millis(1)) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    };
    tether::select! {
        biased;
        _ = stop => {}
        _ = work => {}
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while a shard was locked leaves it consistent enough to serve (each method keeps
    // rule 2 before it can panic), and one failed command must not take the server down.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn past() -> Instant {
        Instant::now()
            .checked_sub(Duration::from_millis(1))
            .expect("a past instant")
    }

    /// Rule 3: an expired key is removed when read, from the map and from the index, whether
    /// or not the expiry task ran.
    #[test]
    fn reading_an_expired_key_removes_it() {
        let mut shard = Shard::default();
        shard.set_str(b"k", b"v", false);
        assert!(shard.set_expiry(b"k", Some(past())));
        assert_eq!(shard.len(), 1, "still stored: nobody looked");
        assert!(shard.get_mut(b"k", &mut Now::new()).is_none());
        assert_eq!(shard.len(), 0);
        assert!(shard.deadlines.is_empty());
    }

    /// Rule 2: the index follows every change of an entry's deadline.
    #[test]
    fn the_deadline_index_follows_the_entries() {
        let mut shard = Shard::default();
        let later = Instant::now() + Duration::from_secs(60);
        shard.set_str(b"a", b"1", false);
        shard.set_str(b"b", b"2", false);
        shard.set_expiry(b"a", Some(later));
        shard.set_expiry(b"a", Some(later + Duration::from_secs(1)));
        shard.set_expiry(b"b", Some(later));
        assert_eq!(
            shard.deadlines.len(),
            2,
            "a re-filed deadline replaces the old one"
        );
        shard.set_str(b"b", b"3", true);
        assert_eq!(shard.deadlines.len(), 2, "KEEPTTL keeps it");
        shard.set_str(b"b", b"3", false);
        assert_eq!(shard.deadlines.len(), 1, "a plain SET clears it");
        shard.insert(b"a", Value::Str(b"x".to_vec()));
        assert!(
            shard.deadlines.is_empty(),
            "a replaced entry takes its deadline along"
        );
        shard.set_expiry(b"a", Some(later));
        shard.remove(b"a");
        assert!(
            shard.deadlines.is_empty(),
            "a removed entry takes its deadline along"
        );
        assert!(!shard.set_expiry(b"nope", Some(later)));
    }

    /// Rule 4: the expiry task removes what is due, earliest first, at most a batch at a time,
    /// and leaves what is not due.
    #[test]
    fn due_keys_go_earliest_first_in_batches() {
        let mut shard = Shard::default();
        let now = Instant::now();
        for i in 0..10u64 {
            let key = format!("k{i}");
            shard.set_str(key.as_bytes(), b"v", false);
            // k0..k4 are due at `now` (in that order), k5..k9 later.
            let at = if i < 5 {
                now - Duration::from_millis(10 - i)
            } else {
                now + Duration::from_millis(i)
            };
            shard.set_expiry(key.as_bytes(), Some(at));
        }
        assert_eq!(shard.expire_due(now, 3), 3);
        assert!(shard.map.contains_key(&b"k3"[..]) && !shard.map.contains_key(&b"k2"[..]));
        assert_eq!(shard.expire_due(now, 100), 2);
        assert_eq!(shard.len(), 5);
        assert_eq!(shard.earliest(), shard.map[&b"k5"[..]].expires_at());
    }

    /// Rule 1: a command on several keys locks each of their shards once, in index order.
    /// The shard hash spreads keys that differ anywhere (a counter in the middle, the last byte,
    /// a length) evenly: 64,000 keys of each kind over 64 shards, every shard within 25% of
    /// the mean.
    #[test]
    fn the_shard_hash_spreads_keys_over_the_shards() {
        let db = Db::new(64);
        let kinds: [&dyn Fn(u32) -> Vec<u8>; 3] = [
            &|i| format!("user:{i:08}:profile").into_bytes(),
            &|i| format!("key:__rand_int__{i}").into_bytes(),
            &|i| vec![b'x'; 1 + i as usize % 200],
        ];
        for (k, kind) in kinds.iter().enumerate() {
            let n = if k == 2 { 200 } else { 64_000 };
            let mut counts = [0u32; 64];
            let mut seen = std::collections::HashSet::new();
            for i in 0..n {
                let key = kind(i);
                if seen.insert(key.clone()) {
                    counts[db.shard_index(&key)] += 1;
                }
            }
            let mean = seen.len() as f64 / 64.0;
            let (lo, hi) = (
                *counts.iter().min().unwrap() as f64,
                *counts.iter().max().unwrap() as f64,
            );
            if k < 2 {
                assert!(
                    lo >= mean * 0.75 && hi <= mean * 1.25,
                    "kind {k}: shards hold {lo}..{hi} keys, mean {mean}"
                );
            } else {
                // 200 keys of distinct lengths: no shard takes more than a few.
                assert!(hi <= 12.0, "keys by length: a shard holds {hi} of 200");
            }
        }
    }

    #[test]
    fn several_keys_lock_their_shards_once_in_order() {
        let db = Db::new(4);
        let keys: Vec<Vec<u8>> = (0..50).map(|i| format!("key{i}").into_bytes()).collect();
        let mut guards = db.lock_shards(keys.iter().map(|k| &k[..]));
        let locked: Vec<usize> = guards.guards.iter().map(|(i, _)| *i).collect();
        assert_eq!(locked, vec![0, 1, 2, 3]);
        for k in &keys {
            guards.shard(k).set_str(k, b"v", false);
        }
        drop(guards);
        let mut n = 0;
        db.lock_all().for_each(|s| n += s.len());
        assert_eq!(n, 50);
    }
}
