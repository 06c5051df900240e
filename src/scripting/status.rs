//! What the script running right now is doing, readable from every thread without a lock: the
//! event loops consult it to answer BUSY, and SCRIPT KILL / FUNCTION KILL set its kill flag.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

/// The kind of script running, which decides the BUSY text and which KILL command applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    Eval,
    Function,
}

/// Why a KILL request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillRefused {
    NotBusy,
    /// The script has written: killing it would leave half its effects.
    Unkillable,
    /// SCRIPT KILL aimed at a function, or FUNCTION KILL at an EVAL script.
    OtherKind(ScriptKind),
}

const IDLE: u8 = 0;
const EVAL: u8 = 1;
const FUNCTION: u8 = 2;

pub struct ScriptStatus {
    epoch: Instant,
    kind: AtomicU8,
    /// Microseconds since `epoch` when the running script started.
    started_us: AtomicU64,
    wrote: AtomicBool,
    kill: AtomicBool,
    /// For FUNCTION STATS: the running function's name and command line.
    running: parking_lot::Mutex<Option<(String, Vec<Vec<u8>>)>>,
    /// Sizes and counts of the scripting state, for INFO and FUNCTION STATS (which
    /// run on the event loops, possibly while the VM is busy).
    figures: parking_lot::Mutex<ScriptFigures>,
}

/// What is published after each script or FUNCTION command.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptFigures {
    pub vm_bytes: usize,
    pub cached_scripts: usize,
    pub script_source_bytes: usize,
    pub libraries: usize,
    pub functions: usize,
    pub library_code_bytes: usize,
}

impl Default for ScriptStatus {
    fn default() -> ScriptStatus {
        ScriptStatus {
            epoch: Instant::now(),
            kind: AtomicU8::new(IDLE),
            started_us: AtomicU64::new(0),
            wrote: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            running: parking_lot::Mutex::new(None),
            figures: parking_lot::Mutex::new(ScriptFigures::default()),
        }
    }
}

impl ScriptStatus {
    /// Marks a script as running until the returned guard drops.
    pub fn begin(&self, kind: ScriptKind, function: Option<(String, Vec<Vec<u8>>)>) -> Running<'_> {
        self.wrote.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        *self.running.lock() = function;
        self.started_us.store(self.epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.kind.store(if kind == ScriptKind::Eval { EVAL } else { FUNCTION }, Ordering::Release);
        Running { status: self }
    }

    fn kind(&self) -> Option<ScriptKind> {
        match self.kind.load(Ordering::Acquire) {
            EVAL => Some(ScriptKind::Eval),
            FUNCTION => Some(ScriptKind::Function),
            _ => None,
        }
    }

    /// How long the running script has run, if one is running.
    pub fn running_for_ms(&self) -> Option<(ScriptKind, u64)> {
        let kind = self.kind()?;
        let started = self.started_us.load(Ordering::Relaxed);
        Some((kind, (self.epoch.elapsed().as_micros() as u64).saturating_sub(started) / 1000))
    }

    /// The running script when it has run for at least `threshold_ms`: other clients get BUSY.
    pub fn busy(&self, threshold_ms: u64) -> Option<ScriptKind> {
        self.running_for_ms().filter(|(_, ms)| *ms >= threshold_ms).map(|(kind, _)| kind)
    }

    /// The running function's name, command line and run time, for FUNCTION STATS.
    pub fn running_function(&self) -> Option<(String, Vec<Vec<u8>>, u64)> {
        let (kind, ms) = self.running_for_ms()?;
        if kind != ScriptKind::Function {
            return None;
        }
        self.running.lock().clone().map(|(name, command)| (name, command, ms))
    }

    pub fn publish(&self, figures: ScriptFigures) {
        *self.figures.lock() = figures;
    }

    pub fn figures(&self) -> ScriptFigures {
        *self.figures.lock()
    }

    pub fn note_write(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    pub fn has_written(&self) -> bool {
        self.wrote.load(Ordering::Relaxed)
    }

    /// SCRIPT KILL (`kind` Eval) or FUNCTION KILL (`kind` Function).
    pub fn request_kill(&self, kind: ScriptKind) -> Result<(), KillRefused> {
        let Some(running) = self.kind() else {
            return Err(KillRefused::NotBusy);
        };
        if running != kind {
            return Err(KillRefused::OtherKind(running));
        }
        if self.has_written() {
            return Err(KillRefused::Unkillable);
        }
        self.kill.store(true, Ordering::Relaxed);
        Ok(())
    }

    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Relaxed)
    }
}

/// Clears the running state when the script ends, however it ends.
pub struct Running<'a> {
    status: &'a ScriptStatus,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.status.kind.store(IDLE, Ordering::Release);
        self.status.kill.store(false, Ordering::Relaxed);
        *self.status.running.lock() = None;
    }
}

/// The BUSY error other clients get while a script runs past busy-reply-threshold.
pub fn busy_error(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::Eval => "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        ScriptKind::Function => "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
    }
}
