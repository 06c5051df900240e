//! Serving clients blocked on keys: the registry and its order are [`crate::state::blocked`]; the
//! server hands it the dispatcher, so the state below the commands runs none of them itself.

use crate::commands::{dispatch, Ctx};
use crate::state::blocked;
use crate::state::shared::{unix_ms, Shared};

/// Serves the waiters of every key this thread's commands made ready (see
/// [`blocked::serve_ready`]). Call it after each command, holding the gate as the command did.
pub fn serve_ready(shared: &Shared) {
    blocked::serve_ready(shared, |session, args| {
        let mut ctx = Ctx::new(shared, session, unix_ms());
        dispatch(&mut ctx, args).reply
    });
}
