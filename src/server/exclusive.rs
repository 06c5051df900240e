//! The exclusive executor: one thread that runs scripts, FUNCTION changes and EXEC with the
//! server's gate held for writing, so no other client's command runs in between.
//!
//! Running them here rather than on the event loop that received them keeps that loop serving its
//! other clients: past `busy-reply-threshold` they get BUSY instead of silence, and SCRIPT KILL
//! reaches a runaway script from any connection. The thread also owns the one Lua VM, which is
//! therefore never shared between threads.

use crossbeam::channel::{unbounded, Sender};

use std::sync::Arc;

use crate::scripting::{ScriptStatus, Scripting};

type Job = Box<dyn FnOnce(&mut Scripting) + Send>;

pub struct Exclusive {
    jobs: Sender<Job>,
}

impl Exclusive {
    /// Starts the executor thread; it ends when the `Exclusive` is dropped. If the thread cannot
    /// start, every job reports the executor gone.
    pub fn start(status: Arc<ScriptStatus>) -> Exclusive {
        let (jobs, queue) = unbounded::<Job>();
        let spawned = std::thread::Builder::new().name("strata-exclusive".into()).spawn(move || {
            let mut scripting = match Scripting::new(status) {
                Ok(scripting) => scripting,
                Err(error) => {
                    tracing::error!(%error, "cannot create the Lua VM");
                    return;
                }
            };
            scripting.publish();
            for job in queue {
                job(&mut scripting);
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the exclusive executor thread");
        }
        Exclusive { jobs }
    }

    /// Runs `work` on the executor and waits for its result without blocking the event loop.
    /// `None` when the executor is gone (the server is stopping).
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Scripting) -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |scripting| {
            let result = work(scripting);
            // Before the reply goes out, so the client's next INFO sees what its command did.
            scripting.publish();
            let _ = done.send(result);
        });
        self.jobs.send(job).ok()?;
        result.await.ok()
    }
}
