//! Expected values were observed on redis-server 7.0.15 with `EVAL "return <expr>" 0`.

use mlua::{Lua, Value};

fn lua() -> Lua {
    let lua = Lua::new();
    super::register(&lua).expect("register");
    lua
}

#[test]
fn smoke() {
    let lua = lua();
    let v: String = lua.load("return cjson.encode({1,2,{a=3}})").eval().unwrap();
    assert_eq!(v, "[1,2,{\"a\":3}]");
    let _ = Value::Nil;
}
