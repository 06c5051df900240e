//! The Lua VM scripts run in: Redis's sandbox (an allow-list of globals, read-only globals and
//! library tables), the `redis` API, the error handler that locates an error in the script, and
//! one run of a script with its KEYS and ARGV.

use std::sync::Arc;

use std::ffi::{c_int, c_void};

use mlua::{ffi, Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

use super::call::{lend, CallEnv, Dispatcher};
use super::convert::{error_table, lua_to_reply, sanitize, ScriptResp};
use super::status::{ScriptKind, ScriptStatus};
use crate::resp::{OwnedArgs, Reply};

/// The chunk name scripts compile under, as Redis names it (errors read `user_script:LINE: ...`).
pub const SCRIPT_CHUNK: &str = "@user_script";
/// Instructions between two checks for SCRIPT KILL.
const KILL_CHECK_INTERVAL: u32 = 100_000;
const KILLED_MESSAGE: &str = "ERR Script killed by user with SCRIPT KILL...";
const FUNCTION_KILLED_MESSAGE: &str = "ERR Script killed by user with FUNCTION KILL...";

/// Globals scripts may read, as in Redis 7.0; everything else the base library defines is removed.
const ALLOWED_GLOBALS: &[&str] = &[
    "assert",
    "collectgarbage",
    "coroutine",
    "error",
    "gcinfo",
    "getmetatable",
    "ipairs",
    "load",
    "loadstring",
    "math",
    "next",
    "pairs",
    "pcall",
    "rawequal",
    "rawget",
    "rawset",
    "select",
    "setmetatable",
    "string",
    "table",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "xpcall",
    "_VERSION",
    "cjson",
    "cmsgpack",
    "bit",
    "struct",
];
/// Library tables scripts may use but not change.
const READ_ONLY_LIBRARIES: &[&str] = &["coroutine", "math", "string", "table", "cjson", "cmsgpack", "bit", "struct"];

/// Lua helpers defined once: the read-only views and Redis's `pcall`.
const PRELUDE: &str = r#"
local error, setmetatable, tostring, xpcall = error, setmetatable, tostring, xpcall
local function readonly_error() error("Attempt to modify a readonly table", 2) end
local function readonly(t)
  return setmetatable({}, {__index = t, __newindex = readonly_error, __metatable = false})
end
local function missing(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
-- Reading a name `t` lacks is an error. Tables chain by __index, so a hit costs no function call.
local function strict(t)
  return setmetatable(t, {__index = missing})
end
-- The globals scripts see: reads fall through to `globals` (strict), writes fail.
local function sandbox(globals)
  return setmetatable({}, {__index = globals, __newindex = readonly_error, __metatable = false})
end
-- Redis's pcall: an error table (raised by redis.call or error{err=...}) reaches the script as its text.
local raw_pcall, type, rawget = pcall, type, rawget
local function unwrap(ok, ...)
  if not ok then
    local raised = ...
    if type(raised) == 'table' and type(rawget(raised, 'err')) == 'string' then
      return false, rawget(raised, 'err')
    end
  end
  return ok, ...
end
local function pcall(f, ...)
  return unwrap(raw_pcall(f, ...))
end
return readonly, strict, sandbox, pcall
"#;
/// The chunk name of the prelude, so the error handler can skip its frames.
const PRELUDE_CHUNK: &str = "=strata";

/// How to run a script.
pub struct RunOptions<'a> {
    pub kind: ScriptKind,
    /// Write commands fail (EVAL_RO, FCALL_RO, `no-writes` scripts).
    pub read_only: bool,
    /// What error messages name the script by: its SHA1, or the function's name.
    pub name: &'a str,
    /// A function's name and command line, for FUNCTION STATS (EVAL scripts have none).
    pub function: Option<(String, Vec<Vec<u8>>)>,
}

pub struct ScriptVm {
    lua: Lua,
    /// The globals table scripts see: reads of unknown names and all writes fail.
    env: Table,
    /// The allowed globals behind `env`; EVAL sets KEYS and ARGV here.
    globals: Table,
    /// The `redis` table behind its read-only view.
    redis: Table,
    readonly: Function,
    sandbox: Function,
    strict: Function,
    /// [`invoke`], the C function every run enters through.
    invoke: Function,
    handler: Function,
    status: Arc<ScriptStatus>,
    /// The argument buffer `redis.call` reuses.
    call_args: OwnedArgs,
}

impl ScriptVm {
    pub fn new(status: Arc<ScriptStatus>) -> mlua::Result<ScriptVm> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::default())?;
        super::libs::register(&lua)?;
        let (readonly, strict, sandbox, pcall): (Function, Function, Function, Function) =
            lua.load(PRELUDE).set_name(PRELUDE_CHUNK).call(())?;
        let globals = lua.globals();
        let names: Vec<Value> = globals.pairs::<Value, Value>().filter_map(Result::ok).map(|(name, _)| name).collect();
        for name in names {
            let allowed = matches!(&name, Value::String(s) if ALLOWED_GLOBALS.iter().any(|a| s.as_bytes().as_ref() == a.as_bytes()));
            if !allowed {
                globals.raw_set(name, Value::Nil)?;
            }
        }
        globals.raw_set("pcall", pcall)?;
        for library in READ_ONLY_LIBRARIES {
            if let Value::Table(table) = globals.raw_get::<Value>(*library)? {
                globals.raw_set(*library, readonly.call::<Table>(table)?)?;
            }
        }
        let redis = super::api::redis_table(&lua)?;
        globals.raw_set("redis", readonly.call::<Table>(redis.clone())?)?;
        let globals: Table = strict.call(globals)?;
        let env: Table = sandbox.call(globals.clone())?;
        globals.raw_set("_G", env.clone())?;
        let handler = lua.create_function(locate_error)?;
        globals.raw_set("__redis__err__handler", handler.clone())?;
        let hook_status = status.clone();
        lua.set_hook(HookTriggers::new().every_nth_instruction(KILL_CHECK_INTERVAL), move |_, _| {
            if hook_status.kill_requested() {
                return Err(mlua::Error::RuntimeError(KILLED_MESSAGE.to_owned()));
            }
            Ok(VmState::Continue)
        })?;
        // SAFETY: `invoke` follows the C function protocol and is only called by `ScriptVm::call`.
        let invoke = unsafe { lua.create_c_function(invoke) }?;
        Ok(ScriptVm { lua, env, globals, redis, readonly, sandbox, strict, invoke, handler, status, call_args: OwnedArgs::default() })
    }

    pub fn status(&self) -> &ScriptStatus {
        &self.status
    }

    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    pub fn redis_table(&self) -> &Table {
        &self.redis
    }

    /// A read-only view of `table`.
    pub fn readonly(&self, table: Table) -> mlua::Result<Table> {
        self.readonly.call(table)
    }

    /// `table`, made to fail on reads of names it lacks (and of names none of its `__index` chain has).
    pub fn strict(&self, table: Table) -> mlua::Result<Table> {
        self.strict.call(table)
    }

    /// A fresh sandboxed globals table over `globals` (FUNCTION LOAD runs libraries in one).
    pub fn sandbox(&self, globals: Table) -> mlua::Result<Table> {
        self.sandbox.call(globals)
    }

    /// The allowed globals, for building a library's load-time environment.
    pub fn globals(&self) -> &Table {
        &self.globals
    }

    /// Compiles a script body in the sandbox. The error is Lua's message (`user_script:1: ...`).
    pub fn compile(&self, body: &[u8], chunk: &str, env: Option<Table>) -> Result<Function, String> {
        self.lua.load(body).set_name(chunk).set_environment(env.unwrap_or_else(|| self.env.clone())).into_function().map_err(|error| {
            match error {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            }
        })
    }

    /// Runs `function()` under the error handler outside any client context (a library's load):
    /// the error text on failure.
    pub fn run_protected(&self, function: &Function) -> mlua::Result<Result<(), String>> {
        match self.call(function, Inputs::Nothing)? {
            Ok(_) => Ok(Ok(())),
            Err(Value::Table(error)) => Ok(Err(sanitize(&error.raw_get::<String>("err").unwrap_or_default()))),
            Err(_) => Ok(Err(String::new())),
        }
    }

    /// Calls `function` with `inputs` under the error handler, in one protected call on the Lua
    /// stack: no closure, argument table or value handle is made on the way in, which is most of
    /// what a short script costs. `Ok` holds the function's first result, `Err` what it raised
    /// (an error table, once the handler has located it).
    fn call(&self, function: &Function, inputs: Inputs) -> mlua::Result<Result<Value, Value>> {
        self.lua.exec_raw_lua(|raw| {
            // SAFETY: the stack has room for the five values pushed before the call (checked);
            // `invoke` reads the lightuserdata as the `Inputs` that outlives the call; the stack
            // is restored to `top` on every path.
            unsafe {
                let state = raw.state();
                let top = ffi::lua_gettop(state);
                if ffi::lua_checkstack(state, 5) == 0 {
                    return Err(mlua::Error::StackError);
                }
                raw.push(&self.invoke)?;
                ffi::lua_pushlightuserdata(state, &inputs as *const Inputs as *mut c_void);
                raw.push(&self.globals)?;
                raw.push(&self.handler)?;
                raw.push(function)?;
                let status = ffi::lua_pcall(state, 4, 2, 0);
                let outcome = if status != ffi::LUA_OK {
                    // Only running out of memory gets here: `invoke` catches the script's errors.
                    let message = raw.pop_value();
                    Err(mlua::Error::RuntimeError(message.to_string().unwrap_or_default()))
                } else {
                    let value = raw.pop_value();
                    let ok = ffi::lua_toboolean(state, -1) != 0;
                    Ok(if ok { Ok(value) } else { Err(value) })
                };
                ffi::lua_settop(state, top);
                outcome
            }
        })
    }

    /// Runs `function` as one atomic script whose `redis.call`s go through `calls` (the calling
    /// client's dispatcher, which keeps the script's SELECT, protocol and no-blocking mode to the
    /// script) and returns its reply. EVAL scripts find `keys` and `argv` in the KEYS and ARGV
    /// globals, functions as their two arguments. Errors carry Redis's `script: NAME, on
    /// @user_script:LINE.` suffix.
    pub fn run(&mut self, calls: &mut dyn Dispatcher, function: &Function, inputs: Inputs, options: RunOptions) -> Reply {
        let _running = self.status.begin(options.kind, options.function);
        let mut call_args = std::mem::take(&mut self.call_args);
        let mut env = CallEnv { calls, resp: ScriptResp::Resp2, read_only: options.read_only, status: &self.status, args: &mut call_args };
        let outcome = {
            let _lent = lend(&mut env);
            self.call(function, inputs)
        };
        let resp = env.resp;
        self.call_args = call_args;
        let killed = self.status.kill_requested();
        let raised = match outcome {
            Ok(Ok(value)) => return lua_to_reply(&value, resp),
            Ok(Err(raised)) => raised,
            Err(error) => return Reply::Error(format!("ERR {}", sanitize(&error.to_string())).into()),
        };
        let Value::Table(error) = raised else {
            return Reply::Error("ERR unknown error running the script".into());
        };
        let mut message = error.raw_get::<String>("err").unwrap_or_default();
        if killed {
            message = match options.kind {
                ScriptKind::Eval => KILLED_MESSAGE,
                ScriptKind::Function => FUNCTION_KILLED_MESSAGE,
            }
            .to_owned();
        }
        let mut text = sanitize(&message);
        text.push_str(" script: ");
        text.push_str(options.name);
        if let (Ok(source), Ok(line)) = (error.raw_get::<String>("source"), error.raw_get::<i64>("line")) {
            text.push_str(&format!(", on {source}:{line}."));
        }
        Reply::Error(text.into())
    }
}

/// What a script is called with.
pub enum Inputs<'a> {
    /// An EVAL script: KEYS and ARGV are globals.
    Globals { keys: &'a [&'a [u8]], argv: &'a [&'a [u8]] },
    /// A function: `function(keys, args)`.
    Arguments { keys: &'a [&'a [u8]], argv: &'a [&'a [u8]] },
    /// A library's body at load time: no arguments.
    Nothing,
}

/// The C function a run enters through, called with (inputs, globals, handler, function): builds
/// the KEYS and ARGV tables, calls the function under the handler (so no Lua closure has to wrap
/// it, as `xpcall` would need) and returns (ok, first result or error).
///
/// # Safety
/// Called by Lua as a C function, from [`ScriptVm::call`] only, whose lightuserdata argument
/// points at live [`Inputs`].
unsafe extern "C-unwind" fn invoke(state: *mut ffi::lua_State) -> c_int {
    const GLOBALS: c_int = 2;
    const HANDLER: c_int = 3;
    let inputs = &*(ffi::lua_touserdata(state, 1) as *const Inputs);
    let nargs = match *inputs {
        Inputs::Globals { keys, argv } => {
            push_array(state, keys);
            ffi::lua_setfield(state, GLOBALS, c"KEYS".as_ptr());
            push_array(state, argv);
            ffi::lua_setfield(state, GLOBALS, c"ARGV".as_ptr());
            0
        }
        Inputs::Arguments { keys, argv } => {
            push_array(state, keys);
            push_array(state, argv);
            2
        }
        Inputs::Nothing => 0,
    };
    let ok = ffi::lua_pcall(state, nargs, 1, HANDLER) == ffi::LUA_OK;
    ffi::lua_pushboolean(state, c_int::from(ok));
    ffi::lua_insert(state, -2);
    2
}

/// Pushes a Lua array of the strings in `items` (a C function starts with LUA_MINSTACK free
/// slots, more than `invoke` uses).
unsafe fn push_array(state: *mut ffi::lua_State, items: &[&[u8]]) {
    ffi::lua_createtable(state, items.len().min(i32::MAX as usize) as c_int, 0);
    for (i, item) in items.iter().enumerate() {
        ffi::lua_pushlstring(state, item.as_ptr() as *const _, item.len());
        ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
    }
}

/// The message handler of every script run: turns what was raised into an error table
/// `{err=..., source=..., line=...}` naming the script line that raised it. Lua errors (strings)
/// get Redis's `ERR ` prefix; error tables (from redis.call or `error({err=...})`) keep their text.
fn locate_error(lua: &Lua, raised: Value) -> mlua::Result<Table> {
    let table = match raised {
        Value::Table(table) if matches!(table.raw_get::<Value>("err"), Ok(Value::String(_))) => table,
        Value::String(text) => error_table(lua, &format!("ERR {}", text.to_string_lossy()))?,
        Value::Error(error) => error_table(lua, &innermost_message(&error))?,
        other => error_table(lua, &format!("ERR {}", other.to_string().unwrap_or_default()))?,
    };
    // Level 1 raised the error; C functions (error, redis.call's helpers) and the prelude are skipped
    // to reach the script's own line.
    for level in 1..32 {
        let Some((what, source, line)) = lua.inspect_stack(level, |debug| {
            let source = debug.source();
            (source.what, source.source.map(|s| s.into_owned()), debug.current_line())
        }) else {
            break;
        };
        if what == "C" || source.as_deref() == Some(PRELUDE_CHUNK) {
            continue;
        }
        if let (Some(source), Some(line)) = (source, line) {
            table.raw_set("source", source)?;
            table.raw_set("line", line)?;
        }
        break;
    }
    Ok(table)
}

/// The message of an error raised from Rust (a callback or the kill hook), without mlua's wrapping.
fn innermost_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::CallbackError { cause, .. } => innermost_message(cause),
        mlua::Error::RuntimeError(message) if message.starts_with("ERR ") => message.clone(),
        mlua::Error::RuntimeError(message) => format!("ERR {message}"),
        other => format!("ERR {other}"),
    }
}
