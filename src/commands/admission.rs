//! Admission: what becomes of a request before its handler runs, decided once, by one pure function
//! of the command's row, its arguments and the state of the session and server ([`decide`]).
//!
//! The answer says how the request may run — with the other loops (the gate's read side), alone
//! (its write side: scripts, EXEC, a write to a key someone is blocked on), without the gate while a
//! script is busy (`allow_busy` commands), or not yet (CLIENT PAUSE), or BUSY — and what dispatch
//! then does with it: run the handler, queue it in MULTI, or refuse it with Redis's error. Every
//! property it reads is a flag on the command's row (`flags::RUNS_ALONE`, `TX_CONTROL`,
//! `SUBSCRIBED_OK`, `WRITES_OTHER_DBS`, `ALLOW_BUSY`...), so a new command or family states how it
//! is admitted in its own rows, and the connection loop matches no names. Cluster redirection
//! (MOVED/ASK) and refused writes (disk errors, OOM) are meant to be more outcomes of the same
//! function.
//!
//! The checks come in Redis's order as strata has always applied them: CLIENT PAUSE before anything;
//! then BUSY (a request that cannot take the gate because a script holds it); then unknown command,
//! arity, authentication, writes while the disk refuses them (MISCONF), subscribed mode, loading;
//! then MULTI queueing.

use super::access::check::{check, Denial};
use super::flags::{ALLOW_BUSY, LOADING, MAY_REPLICATE, NO_AUTH, NO_MULTI, RUNS_ALONE, SUBSCRIBED_OK, TX_CONTROL, WRITE, WRITES_OTHER_DBS};
use super::table::{registry, Command};
use super::Session;
use crate::resp::{Args, Protocol};
use crate::scripting::ScriptKind;
use crate::state::acl::User;

/// What happens to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// CLIENT PAUSE holds it (it stays unread); `write` says which pause applies to it.
    Pause { write: bool },
    /// A script has run past busy-reply-threshold and holds the gate: answer BUSY.
    Busy(ScriptKind),
    /// It goes ahead, under `gate`, and dispatch does `step`.
    Go { gate: Gate, step: Step },
}

/// How a request holds the server's gate (`Shared::gate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The read side, with the other loops' ordinary commands.
    Shared,
    /// The write side: no other client's command runs meanwhile.
    Alone(Alone),
    /// No gate: a busy script holds it, and this command may run meanwhile (`allow_busy`).
    WhileBusy,
}

/// Why a request runs alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alone {
    /// EXEC, scripts and the SCRIPT/FUNCTION subcommands that use the Lua VM: nothing may run
    /// between their commands, and they need the VM.
    Script,
    /// A write to a key some client is blocked on (or, while anyone is blocked, a command that
    /// writes other databases): the waiters are served before it and right after it, before any
    /// other client's command.
    Waiters,
}

/// What dispatch does with an admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Run the handler.
    Run,
    /// Queue it in the open transaction (and answer QUEUED).
    Queue,
    /// Refuse it (inside MULTI this dooms the transaction).
    Refuse(Refusal),
}

/// Why a request is refused; dispatch turns it into Redis's error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such command or subcommand (the error comes from resolving it).
    Unknown,
    WrongArity,
    NoAuth,
    /// The session's ACL user may not run the command, or touch one of its keys or channels.
    NoPerm(Denial),
    /// A RESP2 client with subscriptions may only manage them, PING, QUIT or RESET.
    Subscribed,
    /// A `no_multi` command inside MULTI.
    NotInMulti,
    /// A write (or PING, as Redis refuses it so health checks notice) while the disk refuses
    /// writes: MISCONF.
    DiskError,
    /// A command not flagged `loading` while the dataset is being loaded.
    Loading,
}

/// Whether someone waits on a key of the session's database.
pub type Awaited<'a> = &'a dyn Fn(&[u8]) -> bool;

/// What admission needs to know besides the command: the session's state and the server's.
#[derive(Clone, Copy)]
pub struct State<'a> {
    pub protocol: Protocol,
    pub authenticated: bool,
    /// The session's ACL user, when its requests need checking (`None`: it may run anything).
    pub user: Option<&'a User>,
    /// The client has channel, pattern or shard-channel subscriptions.
    pub subscribed: bool,
    /// MULTI was called and EXEC or DISCARD not yet.
    pub in_multi: bool,
    /// The CLIENT PAUSE in force: `Some(true)` holds every command, `Some(false)` only writes.
    pub pause: Option<bool>,
    /// A script past busy-reply-threshold kept the request from the gate (known once the connection
    /// tried to take it).
    pub busy: Option<ScriptKind>,
    /// While any client is blocked: whether someone waits on this key of the session's database.
    pub awaited: Option<Awaited<'a>>,
    /// The disk refuses writes (see `Store::failure`).
    pub disk_error: bool,
    /// The dataset is being loaded at start.
    pub loading: bool,
}

impl State<'_> {
    /// The session's state, with nothing paused, busy or awaited (the connection adds those; the
    /// commands EXEC and scripts run already hold the gate).
    pub fn of(session: &Session) -> State<'_> {
        State {
            protocol: session.protocol,
            authenticated: session.authenticated,
            user: session.restricted_user(),
            subscribed: session.pubsub.active(),
            in_multi: session.multi.is_some(),
            pause: None,
            busy: None,
            awaited: None,
            disk_error: false,
            loading: false,
        }
    }
}

/// Decides what becomes of a request. `command` is the row the request resolved to, `None` for an
/// unknown command or subcommand. Pure: no locks, no clocks, no allocation (but for the key list of
/// a movable-keys write while clients are blocked).
pub fn decide(command: Option<&Command>, args: Args, state: &State) -> Admission {
    let has = |flag| command.is_some_and(|c| c.has(flag));
    if let Some(all) = state.pause {
        let write = has(WRITE | MAY_REPLICATE);
        if all || write {
            return Admission::Pause { write };
        }
    }
    let alone = command.and_then(|c| runs_alone(c, args, state));
    let gate = match (state.busy, alone) {
        (Some(kind), Some(_)) => return Admission::Busy(kind),
        (Some(_), None) if has(ALLOW_BUSY) => Gate::WhileBusy,
        (Some(kind), None) => return Admission::Busy(kind),
        (None, Some(alone)) => Gate::Alone(alone),
        (None, None) => Gate::Shared,
    };
    Admission::Go { gate, step: step(command, args, state) }
}

/// Whether and why a command runs alone.
fn runs_alone(command: &Command, args: Args, state: &State) -> Option<Alone> {
    if command.has(RUNS_ALONE) {
        return Some(Alone::Script);
    }
    // Writes to awaited keys run alone, so with several loops a pop on another loop cannot take an
    // element before the waiters, whom the writer serves right after the command (Redis serves them
    // inside the push). Commands that write other databases too run alone whenever anyone waits.
    let awaited = state.awaited?;
    if command.has(WRITES_OTHER_DBS) {
        return Some(Alone::Waiters);
    }
    let mut writes_awaited = false;
    if command.has(WRITE) && command.arity_ok(args.len()) {
        command.for_each_key(args, |position| writes_awaited = writes_awaited || awaited(args.get(position)));
    }
    writes_awaited.then_some(Alone::Waiters)
}

/// The checks dispatch applies before the handler, in Redis's order.
fn step(command: Option<&Command>, args: Args, state: &State) -> Step {
    let Some(command) = command else {
        return Step::Refuse(Refusal::Unknown);
    };
    if !command.arity_ok(args.len()) {
        return Step::Refuse(Refusal::WrongArity);
    }
    if !state.authenticated && !command.has(NO_AUTH) {
        return Step::Refuse(Refusal::NoAuth);
    }
    if let Some(user) = state.user {
        let index = registry().index_of(command.name).unwrap_or(usize::MAX);
        if let Err(denial) = check(user, index, command, args) {
            return Step::Refuse(Refusal::NoPerm(denial));
        }
    }
    if state.disk_error && (command.has(WRITE) || command.name == "ping") {
        return Step::Refuse(Refusal::DiskError);
    }
    // Checked before MULTI queueing, as in Redis.
    if state.protocol == Protocol::Resp2 && state.subscribed && !command.has(SUBSCRIBED_OK) {
        return Step::Refuse(Refusal::Subscribed);
    }
    if state.loading && !command.has(LOADING) {
        return Step::Refuse(Refusal::Loading);
    }
    if state.in_multi && !command.has(TX_CONTROL) {
        if command.has(NO_MULTI) {
            return Step::Refuse(Refusal::NotInMulti);
        }
        return Step::Queue;
    }
    Step::Run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::dispatch::resolve;
    use crate::resp::{parse_request, ParseLimits, RequestBuf};

    fn idle() -> State<'static> {
        State {
            protocol: Protocol::Resp2,
            authenticated: true,
            user: None,
            subscribed: false,
            in_multi: false,
            pause: None,
            busy: None,
            awaited: None,
            disk_error: false,
            loading: false,
        }
    }

    /// Decides `line` (a space-separated request) in `state`.
    fn decide_line(line: &str, state: &State) -> Admission {
        let wire: String = std::iter::once(format!("*{}\r\n", line.split(' ').count()))
            .chain(line.split(' ').map(|arg| format!("${}\r\n{arg}\r\n", arg.len())))
            .collect();
        let mut request = RequestBuf::default();
        parse_request(wire.as_bytes(), &mut request, ParseLimits { max_bulk_len: 1 << 20, unauthenticated: false }).unwrap();
        let args = request.args(wire.as_bytes());
        let command = resolve(args).ok().map(|(_, command)| command);
        decide(command, args, state)
    }

    fn go(gate: Gate, step: Step) -> Admission {
        Admission::Go { gate, step }
    }

    const RUN: Admission = Admission::Go { gate: Gate::Shared, step: Step::Run };

    #[test]
    fn ordinary_commands_run_with_the_others() {
        assert_eq!(decide_line("get k", &idle()), RUN);
        assert_eq!(decide_line("lpush k v", &idle()), RUN);
        assert_eq!(decide_line("script kill", &idle()), RUN);
        assert_eq!(decide_line("SCRIPT help", &idle()), RUN);
        assert_eq!(decide_line("function stats", &idle()), RUN);
        assert_eq!(decide_line("move k 1", &idle()), RUN, "nobody is blocked");
    }

    #[test]
    fn scripts_and_exec_run_alone() {
        let alone = go(Gate::Alone(Alone::Script), Step::Run);
        for line in ["exec", "EVAL return 0", "evalsha x 0", "eval_ro x 0", "evalsha_ro x 0", "fcall f 0", "fcall_ro f 0"] {
            assert_eq!(decide_line(line, &idle()), alone, "{line}");
        }
        for line in ["script load x", "Script Flush", "script exists a", "function load x", "function list", "function dump"] {
            assert_eq!(decide_line(line, &idle()), alone, "{line}");
        }
        // A wrong arity still takes the gate alone; dispatch refuses it there.
        assert_eq!(decide_line("exec x", &idle()), go(Gate::Alone(Alone::Script), Step::Refuse(Refusal::WrongArity)));
    }

    #[test]
    fn writes_to_awaited_keys_run_alone() {
        let awaits = |key: &[u8]| key == b"waited";
        let state = State { awaited: Some(&awaits), ..idle() };
        let alone = go(Gate::Alone(Alone::Waiters), Step::Run);
        assert_eq!(decide_line("lpush waited v", &state), alone);
        assert_eq!(decide_line("rpop waited", &state), alone, "a pop serves the waiters first too");
        assert_eq!(decide_line("del other waited", &state), alone);
        assert_eq!(decide_line("lpush other v", &state), RUN);
        assert_eq!(decide_line("llen waited", &state), RUN, "reads do not");
        assert_eq!(decide_line("lpush waited", &state), go(Gate::Shared, Step::Refuse(Refusal::WrongArity)));
        // MOVE, COPY and SWAPDB may write awaited keys of other databases.
        for line in ["move k 1", "copy a b db 2", "swapdb 0 1"] {
            assert_eq!(decide_line(line, &state), alone, "{line}");
        }
    }

    #[test]
    fn client_pause_holds_writes_or_everything() {
        let writes = State { pause: Some(false), ..idle() };
        assert_eq!(decide_line("set k v", &writes), Admission::Pause { write: true });
        assert_eq!(decide_line("del k", &writes), Admission::Pause { write: true });
        assert_eq!(decide_line("get k", &writes), RUN);
        let all = State { pause: Some(true), ..idle() };
        assert_eq!(decide_line("get k", &all), Admission::Pause { write: false });
        assert_eq!(decide_line("nosuch", &all), Admission::Pause { write: false });
    }

    #[test]
    fn a_busy_script_lets_only_allow_busy_commands_through() {
        let busy = State { busy: Some(ScriptKind::Eval), ..idle() };
        assert_eq!(decide_line("get k", &busy), Admission::Busy(ScriptKind::Eval));
        assert_eq!(decide_line("nosuch", &busy), Admission::Busy(ScriptKind::Eval), "BUSY before unknown command");
        assert_eq!(decide_line("eval x 0", &busy), Admission::Busy(ScriptKind::Eval));
        assert_eq!(decide_line("script kill", &busy), go(Gate::WhileBusy, Step::Run));
        assert_eq!(decide_line("function kill", &busy), go(Gate::WhileBusy, Step::Run));
        assert_eq!(decide_line("shutdown nosave", &busy), go(Gate::WhileBusy, Step::Run));
        assert_eq!(decide_line("script kill x", &busy), go(Gate::WhileBusy, Step::Refuse(Refusal::WrongArity)));
    }

    #[test]
    fn refusals_come_in_redis_order() {
        assert_eq!(decide_line("nosuch", &idle()), go(Gate::Shared, Step::Refuse(Refusal::Unknown)));
        assert_eq!(decide_line("client nosuch", &idle()), go(Gate::Shared, Step::Refuse(Refusal::Unknown)));
        let stranger = State { authenticated: false, ..idle() };
        assert_eq!(decide_line("get k", &stranger), go(Gate::Shared, Step::Refuse(Refusal::NoAuth)));
        assert_eq!(decide_line("get", &stranger), go(Gate::Shared, Step::Refuse(Refusal::WrongArity)), "arity first");
        assert_eq!(decide_line("auth p", &stranger), RUN);
        assert_eq!(decide_line("hello 3", &stranger), RUN);
    }

    #[test]
    fn a_failing_disk_refuses_writes_and_ping_and_loading_refuses_all_but_loading_commands() {
        let failing = State { disk_error: true, ..idle() };
        assert_eq!(decide_line("set k v", &failing), go(Gate::Shared, Step::Refuse(Refusal::DiskError)));
        assert_eq!(decide_line("ping", &failing), go(Gate::Shared, Step::Refuse(Refusal::DiskError)));
        assert_eq!(decide_line("get k", &failing), RUN);
        let stranger = State { authenticated: false, ..failing };
        assert_eq!(decide_line("set k v", &stranger), go(Gate::Shared, Step::Refuse(Refusal::NoAuth)), "auth first");
        let in_multi = State { in_multi: true, ..failing };
        assert_eq!(decide_line("set k v", &in_multi), go(Gate::Shared, Step::Refuse(Refusal::DiskError)), "not queued");

        let loading = State { loading: true, ..idle() };
        for line in ["get k", "set k v", "ping", "dbsize"] {
            assert_eq!(decide_line(line, &loading), go(Gate::Shared, Step::Refuse(Refusal::Loading)), "{line}");
        }
        for line in ["info", "config get dir", "client id"] {
            assert_eq!(decide_line(line, &loading), RUN, "{line}");
        }
    }

    #[test]
    fn subscribed_resp2_clients_may_only_manage_subscriptions() {
        let subscribed = State { subscribed: true, ..idle() };
        for line in ["subscribe c", "ssubscribe c", "psubscribe p", "unsubscribe", "sunsubscribe", "punsubscribe", "ping", "quit", "reset"]
        {
            assert_eq!(decide_line(line, &subscribed), RUN, "{line}");
        }
        assert_eq!(decide_line("get k", &subscribed), go(Gate::Shared, Step::Refuse(Refusal::Subscribed)));
        assert_eq!(decide_line("multi", &subscribed), go(Gate::Shared, Step::Refuse(Refusal::Subscribed)));
        let resp3 = State { protocol: Protocol::Resp3, ..subscribed };
        assert_eq!(decide_line("get k", &resp3), RUN);
    }

    #[test]
    fn multi_queues_all_but_transaction_control() {
        let multi = State { in_multi: true, ..idle() };
        assert_eq!(decide_line("set k v", &multi), go(Gate::Shared, Step::Queue));
        assert_eq!(decide_line("eval x 0", &multi), go(Gate::Alone(Alone::Script), Step::Queue));
        for line in ["discard", "multi", "watch k", "quit", "reset"] {
            assert_eq!(decide_line(line, &multi), RUN, "{line}");
        }
        assert_eq!(decide_line("exec", &multi), go(Gate::Alone(Alone::Script), Step::Run));
        assert_eq!(decide_line("subscribe c", &multi), go(Gate::Shared, Step::Queue));
        assert_eq!(decide_line("nosuch", &multi), go(Gate::Shared, Step::Refuse(Refusal::Unknown)));
        // no_multi commands are refused, not queued.
        assert_eq!(decide_line("shutdown", &multi), go(Gate::Shared, Step::Refuse(Refusal::NotInMulti)));
    }
}
