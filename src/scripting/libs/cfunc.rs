//! Library functions written in Rust that Lua sees exactly as it sees Redis's C functions.
//!
//! Two things make a plain `mlua` function differ from a C function of lua_cjson & co:
//! - a Rust error reaches Lua as a userdata, where scripts expect a string they can print or
//!   concatenate (`local ok, err = pcall(cjson.decode, s)`);
//! - `luaL_error` prefixes the caller's position (`user_script:1: `) and `luaL_argerror` names the
//!   function the way the caller spelled it (`bad argument #1 to 'decode'`).
//!
//! So each library function is a small C closure, [`trampoline`], around the Rust function: the Rust
//! side reports failure as ordinary return values ([`Raise`]) and the trampoline raises them with
//! the lauxlib calls the C libraries use. Being a C function also keeps the caller's frame when a
//! script tail-calls it (`return cjson.decode(x)`), so the position is right there too.

use std::ffi::c_int;

use mlua::{ffi, Function, Lua, LuaString, MaybeSend, MultiValue, Value};

/// How a library function fails, named after the C call that raises the error.
pub(super) enum Raise {
    /// `luaL_error`: the message after the calling script's position.
    Error(Vec<u8>),
    /// `luaL_argerror(L, narg, msg)`: "bad argument #narg to 'name' (msg)".
    Arg(c_int, Vec<u8>),
    /// An error the Lua VM itself raises inside a C function, with no position (for example
    /// "table index is nil" from `lua_settable`).
    Plain(Vec<u8>),
    /// A failure of the Lua state (out of memory): passed on as mlua reports it.
    Lua(mlua::Error),
}

impl Raise {
    pub(super) fn error(msg: impl Into<Vec<u8>>) -> Self {
        Raise::Error(msg.into())
    }

    pub(super) fn arg(narg: usize, msg: impl Into<Vec<u8>>) -> Self {
        Raise::Arg(c_int::try_from(narg).unwrap_or(c_int::MAX), msg.into())
    }
}

impl From<mlua::Error> for Raise {
    fn from(e: mlua::Error) -> Self {
        Raise::Lua(e)
    }
}

pub(super) type Outcome<T> = Result<T, Raise>;

/// The first value the Rust side returns to the trampoline says how the call ended.
const RETURNED: i64 = 0;
const RAISE_ERROR: i64 = 1;
const RAISE_ARG: i64 = 2;
const RAISE_PLAIN: i64 = 3;

/// Wraps `f` as a function Lua sees as a C function of the bundled libraries.
pub(super) fn function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Args) -> Outcome<MultiValue> + MaybeSend + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        let (kind, msg, narg) = match f(lua, Args::new(args)) {
            Ok(mut results) => {
                results.push_front(Value::Integer(RETURNED));
                return Ok(results);
            }
            Err(Raise::Lua(e)) => return Err(e),
            Err(Raise::Error(msg)) => (RAISE_ERROR, msg, 0),
            Err(Raise::Arg(narg, msg)) => (RAISE_ARG, msg, narg),
            Err(Raise::Plain(msg)) => (RAISE_PLAIN, msg, 0),
        };
        let msg = Value::String(lua.create_string(msg)?);
        Ok(MultiValue::from_vec(vec![Value::Integer(kind), msg, Value::Integer(i64::from(narg))]))
    })?;
    // SAFETY: the closure only pushes a C closure with the Rust function (the one argument, on
    // the stack) as its upvalue and leaves that closure as the single result; exec_raw runs it in
    // protected mode, so an allocation failure becomes an Err.
    unsafe {
        lua.exec_raw(inner, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// The C side of [`function`]: calls the Rust function (upvalue 1) with all arguments and either
/// returns its results or raises the error it describes.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    // SAFETY (whole body): the stack holds only this call's arguments and what is pushed here; a
    // C function may use LUA_MINSTACK (20) slots, and the error paths below need at most 3. The
    // Rust function's errors propagate through lua_call as Lua errors; no Rust value with a
    // destructor lives in this frame, so unwinding or longjmp through it is sound.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        match ffi::lua_tointeger(state, 1) {
            RETURNED => ffi::lua_gettop(state) - 1,
            RAISE_ARG => {
                let narg = ffi::lua_tointeger(state, 3) as c_int;
                ffi::luaL_argerror(state, narg, ffi::lua_tostring(state, 2))
            }
            RAISE_ERROR => {
                ffi::luaL_where(state, 1);
                ffi::lua_pushvalue(state, 2);
                ffi::lua_concat(state, 2);
                ffi::lua_error(state)
            }
            _ => {
                ffi::lua_pushvalue(state, 2);
                ffi::lua_error(state)
            }
        }
    }
}

/// The arguments of a call, read with the same rules as lauxlib's `luaL_check*` (1-based).
pub(super) struct Args(Vec<Value>);

impl Args {
    fn new(args: MultiValue) -> Self {
        Args(args.into_vec())
    }

    /// `lua_gettop`.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Argument `n`, or `None` past the last one (Lua's "no value").
    pub(super) fn get(&self, n: usize) -> Option<&Value> {
        n.checked_sub(1).and_then(|i| self.0.get(i))
    }

    /// Appends a value, as the C code does when it pushes a marker after its arguments.
    pub(super) fn push(&mut self, v: Value) {
        self.0.push(v);
    }

    pub(super) fn is_none_or_nil(&self, n: usize) -> bool {
        matches!(self.get(n), None | Some(Value::Nil))
    }

    /// `lua_tonumber` of argument `n` when it is a number or a string that converts.
    pub(super) fn to_number(&self, lua: &Lua, n: usize) -> Outcome<Option<f64>> {
        to_number(lua, self.get(n))
    }

    /// `luaL_checknumber`.
    pub(super) fn check_number(&self, lua: &Lua, n: usize) -> Outcome<f64> {
        self.to_number(lua, n)?.ok_or_else(|| type_error(n, "number", self.get(n)))
    }

    /// `luaL_checkinteger`.
    pub(super) fn check_integer(&self, lua: &Lua, n: usize) -> Outcome<i64> {
        Ok(super::cnum::f64_to_i64(self.check_number(lua, n)?))
    }

    /// `luaL_optinteger`.
    pub(super) fn opt_integer(&self, lua: &Lua, n: usize, default: i64) -> Outcome<i64> {
        if self.is_none_or_nil(n) {
            Ok(default)
        } else {
            self.check_integer(lua, n)
        }
    }

    /// `luaL_checklstring`: strings, and numbers converted as Lua prints them.
    pub(super) fn check_string(&self, lua: &Lua, n: usize) -> Outcome<LuaString> {
        match self.get(n) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v @ (Value::Integer(_) | Value::Number(_))) => {
                lua.coerce_string(v.clone())?.ok_or_else(|| type_error(n, "string", self.get(n)))
            }
            other => Err(type_error(n, "string", other)),
        }
    }
}

/// `lua_tonumber` for a value that may be absent.
pub(super) fn to_number(lua: &Lua, v: Option<&Value>) -> Outcome<Option<f64>> {
    Ok(match v {
        Some(Value::Integer(i)) => Some(*i as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(v @ Value::String(_)) => lua.coerce_number(v.clone())?,
        _ => None,
    })
}

/// `luaL_typerror`: "bad argument #n to 'f' (number expected, got nil)".
pub(super) fn type_error(n: usize, expected: &str, got: Option<&Value>) -> Raise {
    Raise::arg(n, format!("{expected} expected, got {}", type_name(got)))
}

/// Lua 5.1's `luaL_typename`: every kind of userdata is "userdata", a missing argument "no value".
pub(super) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}
