//! Cold-start coalescing: concurrent first calls of one client share one bootstrap.
//!
//! The first caller that finds no head becomes the leader and bootstraps; the others wait for
//! it. If the leader learns a head, every follower uses it (one bootstrap request in total).
//! If the leader fails, each follower bootstraps on its own: a failed flight is never cached.
//! The head and the flight live under one mutex, so a caller arriving just after a flight
//! ended sees its head instead of starting a second bootstrap.

use crate::bootstrap::SignedTreeHead;
use crate::sync::{Condvar, Mutex, MutexGuard};

/// A caller's role when it needs the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire<T> {
    /// A head is known: use it.
    Known(T),
    /// No head and no flight: this caller leads and must call `finish_lead` exactly once.
    Lead,
    /// This caller waited for a leader that learned nothing: bootstrap alone.
    LeaderFailed,
}

/// Where a client keeps its in-memory head and coalesces cold starts.
///
/// Seam for mutants: `no-singleflight` is a `HeadSlot` whose `acquire` answers `Lead` to every
/// caller while no head is known (and whose `waiting` is always 0).
pub trait HeadSlot: Send + Sync {
    fn acquire(&self) -> Acquire<SignedTreeHead>;
    /// End the caller's flight; `Some(head)` becomes the known head and releases the
    /// followers with it, `None` releases them to bootstrap alone.
    fn finish_lead(&self, learned: Option<SignedTreeHead>);
    fn get(&self) -> Option<SignedTreeHead>;
    fn set(&self, head: SignedTreeHead);
    /// Callers currently waiting for a leader (for tests and reports).
    fn waiting(&self) -> usize;
}

#[derive(Debug)]
struct State<T> {
    value: Option<T>,
    leading: bool,
    /// Counts finished flights, so a waiter wakes for its own flight's end only.
    flights: u64,
    waiting: usize,
}

/// A value that is learned once by one leader while concurrent askers wait.
#[derive(Debug)]
pub struct SingleFlight<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            state: Mutex::new(State {
                value: None,
                leading: false,
                flights: 0,
                waiting: 0,
            }),
            done: Condvar::new(),
        }
    }
}

impl<T: Copy> SingleFlight<T> {
    pub fn new() -> Self {
        SingleFlight::default()
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every update below is a single assignment, so a poisoned state is still consistent.
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn acquire(&self) -> Acquire<T> {
        let mut state = self.lock();
        if let Some(value) = state.value {
            return Acquire::Known(value);
        }
        if !state.leading {
            state.leading = true;
            return Acquire::Lead;
        }
        let flight = state.flights;
        state.waiting += 1;
        while state.leading && state.flights == flight {
            state = match self.done.wait(state) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
        state.waiting -= 1;
        match state.value {
            Some(value) => Acquire::Known(value),
            None => Acquire::LeaderFailed,
        }
    }

    pub fn finish_lead(&self, learned: Option<T>) {
        let mut state = self.lock();
        if learned.is_some() {
            state.value = learned;
        }
        state.leading = false;
        state.flights = state.flights.wrapping_add(1);
        drop(state);
        self.done.notify_all();
    }

    pub fn get(&self) -> Option<T> {
        self.lock().value
    }

    pub fn set(&self, value: T) {
        self.lock().value = Some(value);
    }

    pub fn waiting(&self) -> usize {
        self.lock().waiting
    }
}

impl HeadSlot for SingleFlight<SignedTreeHead> {
    fn acquire(&self) -> Acquire<SignedTreeHead> {
        SingleFlight::acquire(self)
    }
    fn finish_lead(&self, learned: Option<SignedTreeHead>) {
        SingleFlight::finish_lead(self, learned)
    }
    fn get(&self) -> Option<SignedTreeHead> {
        SingleFlight::get(self)
    }
    fn set(&self, head: SignedTreeHead) {
        SingleFlight::set(self, head)
    }
    fn waiting(&self) -> usize {
        SingleFlight::waiting(self)
    }
}

/// Ends a flight when dropped, so a leader that returns early or panics never strands its
/// followers: they are released to bootstrap alone.
pub struct LeadGuard<'a, S: HeadSlot + ?Sized> {
    slot: &'a S,
    finished: bool,
}

impl<'a, S: HeadSlot + ?Sized> LeadGuard<'a, S> {
    /// Call only after `slot.acquire()` answered `Lead`.
    pub fn new(slot: &'a S) -> Self {
        LeadGuard {
            slot,
            finished: false,
        }
    }

    pub fn finish(mut self, learned: Option<SignedTreeHead>) {
        self.finished = true;
        self.slot.finish_lead(learned);
    }
}

impl<S: HeadSlot + ?Sized> Drop for LeadGuard<'_, S> {
    fn drop(&mut self) {
        if !self.finished {
            self.slot.finish_lead(None);
        }
    }
}

impl<S: HeadSlot + ?Sized> HeadSlot for &S {
    fn acquire(&self) -> Acquire<SignedTreeHead> {
        (**self).acquire()
    }
    fn finish_lead(&self, learned: Option<SignedTreeHead>) {
        (**self).finish_lead(learned)
    }
    fn get(&self) -> Option<SignedTreeHead> {
        (**self).get()
    }
    fn set(&self, head: SignedTreeHead) {
        (**self).set(head)
    }
    fn waiting(&self) -> usize {
        (**self).waiting()
    }
}

impl<S: HeadSlot + ?Sized> HeadSlot for crate::sync::Arc<S> {
    fn acquire(&self) -> Acquire<SignedTreeHead> {
        (**self).acquire()
    }
    fn finish_lead(&self, learned: Option<SignedTreeHead>) {
        (**self).finish_lead(learned)
    }
    fn get(&self) -> Option<SignedTreeHead> {
        (**self).get()
    }
    fn set(&self, head: SignedTreeHead) {
        (**self).set(head)
    }
    fn waiting(&self) -> usize {
        (**self).waiting()
    }
}
