//! The spare loop: a thread that accepts connections on behalf of an event loop stuck in a long
//! script (or EXEC), so that new clients still reach the server while it runs: they get BUSY past
//! `busy-reply-threshold`, and SCRIPT KILL, FUNCTION KILL or SHUTDOWN NOSAVE can end it.
//!
//! Scripts run on the loop that received them (a hand-off to another thread per script costs more
//! than the script). Clients already connected to a stuck loop wait for it, as they would wait for
//! a slow command; everyone else is served by the other loops, or by the spare loop, which holds a
//! duplicate of every listener and accepts on the stuck loop's ones until it is free again.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::state::shared::{stopping, Shared};

/// How long a loop may run one exclusive command before the spare loop accepts for it.
const STUCK_AFTER: Duration = Duration::from_millis(50);
/// How often the spare loop looks.
const CHECK_EVERY: Duration = Duration::from_millis(25);

/// Whether an event loop is running exclusive work, and since when.
pub struct LoopActivity {
    epoch: Instant,
    /// Microseconds since `epoch` plus one when the work started; 0 when idle.
    since: AtomicU64,
}

impl Default for LoopActivity {
    fn default() -> LoopActivity {
        LoopActivity { epoch: Instant::now(), since: AtomicU64::new(0) }
    }
}

impl LoopActivity {
    fn stuck(&self) -> bool {
        match self.since.load(Ordering::Relaxed) {
            0 => false,
            since => self.epoch.elapsed().as_micros() as u64 + 1 >= since + STUCK_AFTER.as_micros() as u64,
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<LoopActivity>>> = const { RefCell::new(None) };
}

/// Registers the calling thread as the event loop that `activity` describes.
pub fn enter_loop(activity: Arc<LoopActivity>) {
    CURRENT.with(|current| *current.borrow_mut() = Some(activity));
}

/// Marks this thread's loop as running exclusive work until the guard drops.
pub fn running_here() -> Running {
    let activity = CURRENT.with(|current| current.borrow().clone());
    if let Some(activity) = &activity {
        activity.since.store(activity.epoch.elapsed().as_micros() as u64 + 1, Ordering::Relaxed);
    }
    Running { activity }
}

pub struct Running {
    activity: Option<Arc<LoopActivity>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(activity) = &self.activity {
            activity.since.store(0, Ordering::Relaxed);
        }
    }
}

/// Runs the spare loop: for each event loop, its activity and duplicates of its listeners.
pub async fn run(shared: Arc<Shared>, loops: Vec<(Arc<LoopActivity>, Vec<std::net::TcpListener>)>) {
    let mut tasks = Vec::new();
    for (activity, listeners) in loops {
        for listener in listeners {
            tasks.push(tokio::spawn(stand_in(shared.clone(), activity.clone(), listener)));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Accepts on `listener` whenever its loop is stuck.
async fn stand_in(shared: Arc<Shared>, activity: Arc<LoopActivity>, listener: std::net::TcpListener) {
    let mut shutdown = shared.shutdown_signal();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stopping(&mut shutdown) => return,
        }
        if !activity.stuck() {
            continue;
        }
        // Registered with this loop only while needed: the owner normally has the listener alone.
        let Ok(copy) = listener.try_clone() else { continue };
        let Ok(copy) = tokio::net::TcpListener::from_std(copy) else { continue };
        while activity.stuck() {
            tokio::select! {
                accepted = copy.accept() => {
                    if let Ok((stream, addr)) = accepted {
                        super::admit(&shared, stream, addr);
                    }
                }
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = stopping(&mut shutdown) => return,
            }
        }
    }
}
