//! FUNCTION libraries: `#!lua name=...` code that registers named functions with
//! `redis.register_function`, called by FCALL.
//!
//! A library's code runs once, at load, in its own globals table whose `redis` offers only the
//! load-time API; afterwards that entry is removed so the functions see the full `redis` API of the
//! shared globals.

use std::cell::RefCell;
use std::collections::BTreeMap;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::vm::ScriptVm;

pub const FUNCTION_CHUNK: &str = "@user_function";
const FUNCTION_FLAGS: &[&str] = &["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"];
const NAME_RULE: &str = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

pub struct RegisteredFunction {
    pub name: String,
    pub callback: Function,
    pub flags: Vec<&'static str>,
    pub description: Option<String>,
}

impl RegisteredFunction {
    pub fn no_writes(&self) -> bool {
        self.flags.contains(&"no-writes")
    }
}

pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    /// By name.
    pub functions: BTreeMap<String, RegisteredFunction>,
}

#[derive(Default)]
pub struct Libraries {
    libraries: BTreeMap<String, Library>,
    /// Function name → library name.
    owners: BTreeMap<String, String>,
}

impl Libraries {
    pub fn function(&self, name: &[u8]) -> Option<&RegisteredFunction> {
        let name = std::str::from_utf8(name).ok()?;
        let library = self.owners.get(name)?;
        self.libraries.get(library)?.functions.get(name)
    }

    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    pub fn library_count(&self) -> usize {
        self.libraries.len()
    }

    pub fn function_count(&self) -> usize {
        self.owners.len()
    }

    /// FUNCTION LOAD [REPLACE]: returns the library's name.
    pub fn load(&mut self, vm: &ScriptVm, code: &[u8], replace: bool) -> Result<String, String> {
        let (name, _) = parse_metadata(code)?;
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let library = compile_library(vm, code)?;
        self.install(library, replace)
    }

    /// Adds a compiled library, replacing one of the same name only when `replace` is set.
    pub fn install(&mut self, library: Library, replace: bool) -> Result<String, String> {
        if self.libraries.contains_key(&library.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", library.name));
        }
        for function in library.functions.keys() {
            if self.owners.get(function).is_some_and(|owner| *owner != library.name) {
                return Err(format!("ERR Function {function} already exists"));
            }
        }
        let name = library.name.clone();
        self.delete(&name);
        for function in library.functions.keys() {
            self.owners.insert(function.clone(), name.clone());
        }
        self.libraries.insert(name.clone(), library);
        Ok(name)
    }

    /// FUNCTION DELETE: false when there is no such library.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(library) = self.libraries.remove(name) else {
            return false;
        };
        for function in library.functions.keys() {
            self.owners.remove(function);
        }
        true
    }

    pub fn flush(&mut self) {
        self.libraries.clear();
        self.owners.clear();
    }
}

/// Parses the `#!lua name=NAME` line and runs the code to collect its functions.
pub fn compile_library(vm: &ScriptVm, code: &[u8]) -> Result<Library, String> {
    let (name, body) = parse_metadata(code)?;
    let lua = vm.lua();
    let fail = |error: mlua::Error| format!("ERR {error}");
    let library_globals = lua.create_table().map_err(fail)?;
    let inherit = lua.create_table().map_err(fail)?;
    inherit.raw_set("__index", vm.globals().clone()).map_err(fail)?;
    library_globals.set_metatable(Some(inherit)).map_err(fail)?;
    let env = vm.sandbox(library_globals.clone()).map_err(fail)?;
    let chunk = vm.compile(body, FUNCTION_CHUNK, Some(env)).map_err(|message| format!("ERR Error compiling function: {message}"))?;
    let registered = RefCell::new(BTreeMap::new());
    let loaded = lua.scope(|scope| {
        let register = scope.create_function(|lua, args: MultiValue| {
            let function = registration(lua, args)?;
            let mut registered = registered.borrow_mut();
            if registered.contains_key(&function.name) {
                return Err(mlua::Error::RuntimeError("Function already exists in the library".into()));
            }
            registered.insert(function.name.clone(), function);
            Ok(())
        })?;
        let load_api = load_time_redis(vm, register)?;
        library_globals.raw_set("redis", load_api)?;
        let outcome = vm.run_protected(&chunk);
        library_globals.raw_set("redis", Value::Nil)?;
        outcome
    });
    match loaded {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return Err(format!("ERR Error registering functions: {message}")),
        Err(error) => return Err(format!("ERR Error registering functions: {error}")),
    }
    let functions = registered.into_inner();
    if functions.is_empty() {
        return Err("ERR No functions registered".into());
    }
    Ok(Library { name, code: code.to_vec(), functions })
}

/// The `redis` table while a library loads: register_function, log and the constants.
fn load_time_redis(vm: &ScriptVm, register: Function) -> mlua::Result<Table> {
    let lua = vm.lua();
    let api = lua.create_table()?;
    api.raw_set("register_function", register)?;
    for name in ["log", "setresp", "sha1hex", "error_reply", "status_reply"] {
        api.raw_set(name, vm.redis_table().raw_get::<Value>(name)?)?;
    }
    for name in ["LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING", "REDIS_VERSION", "REDIS_VERSION_NUM"] {
        api.raw_set(name, vm.redis_table().raw_get::<Value>(name)?)?;
    }
    vm.sandbox(vm.strict(api)?)
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}`.
fn registration(_lua: &Lua, args: MultiValue) -> mlua::Result<RegisteredFunction> {
    let error = |text: &str| mlua::Error::RuntimeError(text.to_owned());
    let mut args = args.into_iter();
    let (name, callback, flags, description) = match (args.next(), args.next(), args.next()) {
        (Some(Value::String(name)), Some(Value::Function(callback)), None) => (name.to_string_lossy(), callback, Vec::new(), None),
        (Some(Value::Table(spec)), None, None) => {
            let name = match spec.raw_get::<Value>("function_name")? {
                Value::String(name) => name.to_string_lossy(),
                _ => return Err(error("function_name argument given to redis.register_function must be a string")),
            };
            let Value::Function(callback) = spec.raw_get::<Value>("callback")? else {
                return Err(error("callback argument given to redis.register_function must be a function"));
            };
            let mut flags = Vec::new();
            match spec.raw_get::<Value>("flags")? {
                Value::Nil => {}
                Value::Table(list) => {
                    for flag in list.sequence_values::<Value>() {
                        let Value::String(flag) = flag? else {
                            return Err(error("unknown flag given"));
                        };
                        let flag = flag.to_string_lossy();
                        match FUNCTION_FLAGS.iter().find(|known| **known == flag) {
                            Some(known) => flags.push(*known),
                            None => return Err(error("unknown flag given")),
                        }
                    }
                }
                _ => return Err(error("flags argument to redis.register_function must be a table representing function flags")),
            }
            let description = match spec.raw_get::<Value>("description")? {
                Value::Nil => None,
                Value::String(text) => Some(text.to_string_lossy()),
                _ => return Err(error("description argument given to redis.register_function must be a string")),
            };
            (name, callback, flags, description)
        }
        _ => return Err(error("wrong number of arguments to redis.register_function")),
    };
    if !valid_name(&name) {
        return Err(error(NAME_RULE));
    }
    Ok(RegisteredFunction { name, callback, flags, description })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Splits `#!lua name=NAME` off the code; the newline stays so line numbers match the source.
fn parse_metadata(code: &[u8]) -> Result<(String, &[u8]), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for part in parts {
        match part.strip_prefix("name=") {
            Some(value) => name = Some(value.to_owned()),
            None => return Err(format!("ERR Invalid metadata value given: {part}")),
        }
    }
    let name = name.ok_or("ERR Library name was not given")?;
    if !valid_name(&name) {
        return Err(NAME_RULE.into());
    }
    Ok((name, &code[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_rules() {
        assert_eq!(parse_metadata(b"#!lua name=lib\nx").unwrap(), ("lib".to_owned(), &b"\nx"[..]));
        assert_eq!(parse_metadata(b"return 1").unwrap_err(), "ERR Missing library metadata");
        assert_eq!(parse_metadata(b"#!lua name=x bad=1\n").unwrap_err(), "ERR Invalid metadata value given: bad=1");
        assert_eq!(parse_metadata(b"#!lua name=x!\n").unwrap_err(), NAME_RULE);
        assert_eq!(parse_metadata(b"#!lua\n").unwrap_err(), "ERR Library name was not given");
    }
}
