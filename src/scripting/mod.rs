//! Lua scripting: EVAL scripts and FUNCTION libraries, run atomically in one Lua 5.1 VM (the
//! version Redis embeds) with Redis's sandbox, `redis` API and reply conversions.
//!
//! Scripts run on the event loop that received them, with the server's gate held for writing and
//! the VM (`Shared::scripting`) taken for the duration.

mod api;
mod call;
mod convert;
pub mod dump;
pub mod eval;
pub mod functions;
pub mod libs;
pub mod status;
mod vm;

use std::sync::Arc;

pub use api::sha1_hex;
pub use call::Dispatcher;
pub use convert::ScriptResp;
pub use status::{busy_error, KillRefused, ScriptFigures, ScriptKind, ScriptStatus};
pub use vm::{Inputs, RunOptions, ScriptVm};

/// Everything scripts need: the VM and its caches.
pub struct Scripting {
    pub vm: ScriptVm,
    pub scripts: eval::ScriptCache,
    pub libraries: functions::Libraries,
}

impl Scripting {
    pub fn new(status: Arc<ScriptStatus>) -> mlua::Result<Scripting> {
        Ok(Scripting { vm: ScriptVm::new(status)?, scripts: eval::ScriptCache::default(), libraries: functions::Libraries::default() })
    }

    /// Publishes the current sizes and counts for INFO and FUNCTION STATS.
    pub fn publish(&self) {
        self.vm.status().publish(ScriptFigures {
            vm_bytes: self.vm.lua().used_memory(),
            cached_scripts: self.scripts.len(),
            script_source_bytes: self.scripts.source_bytes(),
            libraries: self.libraries.library_count(),
            functions: self.libraries.function_count(),
            library_code_bytes: self.libraries.libraries().map(|library| library.code.len()).sum(),
        });
    }
}
