//! Every expected value here was observed on redis-server 7.0.15 (`EVAL "return <expr>" 0`).

use mlua::{Lua, Value};

/// A Lua state with the libraries, running code as Redis names scripts, so error positions read
/// `user_script:1:` as in Redis.
fn lua() -> Lua {
    let lua = Lua::new();
    super::register(&lua).expect("register");
    lua
}

fn eval(lua: &Lua, expr: &str) -> mlua::Result<Value> {
    lua.load(format!("return {expr}")).set_name("@user_script").eval()
}

/// The bytes of a string result.
fn bytes(lua: &Lua, expr: &str) -> Vec<u8> {
    match eval(lua, expr) {
        Ok(Value::String(s)) => s.as_bytes().to_vec(),
        other => panic!("{expr}: expected a string, got {other:?}"),
    }
}

fn string(lua: &Lua, expr: &str) -> String {
    String::from_utf8_lossy(&bytes(lua, expr)).into_owned()
}

fn number(lua: &Lua, expr: &str) -> f64 {
    match eval(lua, expr) {
        Ok(Value::Number(n)) => n,
        Ok(Value::Integer(i)) => i as f64,
        other => panic!("{expr}: expected a number, got {other:?}"),
    }
}

/// The message of the error `expr` raises, caught inside Lua: it must be a Lua string, as with
/// Redis's C libraries.
fn error(lua: &Lua, expr: &str) -> String {
    let caught = format!("select(2, pcall(function() return {expr} end))");
    match eval(lua, &caught) {
        Ok(Value::String(s)) => s.to_string_lossy(),
        other => panic!("{expr}: expected an error string, got {other:?}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn packed(lua: &Lua, args: &str) -> String {
    hex(&bytes(lua, &format!("cmsgpack.pack({args})")))
}

/// tools/lua_libs_cases.txt evaluated as tools/lua_libs_expected.sh did against redis-server.
#[test]
fn cases_match_redis() {
    let cases = include_str!("../../../tools/lua_libs_cases.txt");
    let expected = include_str!("../../../tools/lua_libs_expected.txt");
    let wrapper = include_str!("../../../tools/lua_libs_wrapper.lua").trim_end();
    let (before, after) = wrapper.split_once("EXPR").expect("wrapper has EXPR");
    assert_eq!(cases.lines().count(), expected.lines().count());
    let mut failures = Vec::new();
    for (expr, want) in cases.lines().zip(expected.lines()) {
        // A fresh state per case, as each EVAL on a fresh server would see the default settings.
        let lua = lua();
        let got: String =
            lua.load(format!("{before}{expr}{after}")).set_name("@user_script").eval().unwrap_or_else(|e| format!("rust error: {e}"));
        if got != want {
            failures.push(format!("{expr}\n   redis: {want}\n  strata: {got}"));
        }
    }
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn globals_are_the_redis_module_tables() {
    let lua = lua();
    let names = |table: &str| {
        string(
            &lua,
            &format!("(function() local t = {{}} for k, v in pairs({table}) do t[#t + 1] = k .. '=' .. type(v) end table.sort(t) return table.concat(t, ' ') end)()"),
        )
    };
    assert_eq!(
        names("cjson"),
        "_NAME=string _VERSION=string decode=function decode_invalid_numbers=function decode_max_depth=function \
         encode=function encode_invalid_numbers=function encode_keep_buffer=function encode_max_depth=function \
         encode_number_precision=function encode_sparse_array=function new=function null=userdata"
    );
    assert_eq!(
        names("cmsgpack"),
        "_COPYRIGHT=string _DESCRIPTION=string _NAME=string _VERSION=string pack=function unpack=function \
         unpack_limit=function unpack_one=function"
    );
    assert_eq!(
        names("bit"),
        "arshift=function band=function bnot=function bor=function bswap=function bxor=function lshift=function \
         rol=function ror=function rshift=function tobit=function tohex=function"
    );
    assert_eq!(names("struct"), "pack=function size=function unpack=function");
    assert_eq!(string(&lua, "tostring(cjson.null)"), "userdata: (nil)");
    // Like Redis's C functions, they cannot be dumped as Lua bytecode.
    assert_eq!(string(&lua, "select(2, pcall(string.dump, cjson.encode))"), "unable to dump given function");
    assert_eq!(string(&lua, "cmsgpack._DESCRIPTION"), "MessagePack C implementation for Lua");
}

#[test]
fn cjson_numbers_use_percent_14g() {
    let lua = lua();
    for (expr, want) in [
        ("0.1", "0.1"),
        ("1/3", "0.33333333333333"),
        ("1e15", "1e+15"),
        ("1e14", "1e+14"),
        ("123456789012345", "1.2345678901234e+14"),
        ("-0.0", "-0"),
        ("2^53", "9.007199254741e+15"),
        ("1e-5", "1e-05"),
        ("0.0001", "0.0001"),
        ("100", "100"),
        ("{[1.5]=1}", "{\"1.5\":1}"),
    ] {
        assert_eq!(string(&lua, &format!("cjson.encode({expr})")), want, "{expr}");
    }
}

#[test]
fn cjson_tables_arrays_and_objects() {
    let lua = lua();
    for (expr, want) in [
        ("{1,2,{a=3}}", "[1,2,{\"a\":3}]"),
        ("{}", "{}"),
        ("{[1]=1,[3]=3}", "[1,null,3]"),
        ("{[1]=1,[4]=3}", "[1,null,null,3]"),
        ("{[10]=1}", "[null,null,null,null,null,null,null,null,null,1]"),
        ("{[0]=1}", "{\"0\":1}"),
        ("{[-1]=1}", "{\"-1\":1}"),
        ("{1,2,nil,4}", "[1,2,null,4]"),
        ("{a={b={c={}}}}", "{\"a\":{\"b\":{\"c\":{}}}}"),
        ("cjson.null", "null"),
        ("nil", "null"),
        ("true", "true"),
    ] {
        assert_eq!(string(&lua, &format!("cjson.encode({expr})")), want, "{expr}");
    }
    assert_eq!(error(&lua, "cjson.encode({[20]=1})"), "user_script:1: Cannot serialise table: excessively sparse array");
    assert_eq!(error(&lua, "cjson.encode({[11]=1})"), "user_script:1: Cannot serialise table: excessively sparse array");
}

#[test]
fn cjson_escapes_strings() {
    let lua = lua();
    let got = bytes(&lua, r#"cjson.encode('a/b"c\\d\n\t\r\b\f' .. string.char(0,1,31,127,128,255))"#);
    assert_eq!(got, b"\"a\\/b\\\"c\\\\d\\n\\t\\r\\b\\f\\u0000\\u0001\\u001f\\u007f\x80\xff\"");
    assert_eq!(bytes(&lua, r"cjson.encode('\226\130\172')"), b"\"\xe2\x82\xac\"");
}

#[test]
fn cjson_encode_errors() {
    let lua = lua();
    for (expr, want) in [
        ("cjson.encode(function() end)", "user_script:1: Cannot serialise function: type not supported"),
        ("cjson.encode({f=function() end})", "user_script:1: Cannot serialise function: type not supported"),
        ("cjson.encode(coroutine.create(function() end))", "user_script:1: Cannot serialise thread: type not supported"),
        ("cjson.encode({[true]=1})", "user_script:1: Cannot serialise boolean: table key must be a number or string"),
        ("cjson.encode(1/0)", "user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("cjson.encode({0/0})", "user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("cjson.encode()", "user_script:1: bad argument #1 to 'encode' (expected 1 argument)"),
        ("cjson.encode(1, 2)", "user_script:1: bad argument #1 to 'encode' (expected 1 argument)"),
    ] {
        assert_eq!(error(&lua, expr), want, "{expr}");
    }
    // Called straight from pcall (a C function) there is no script position to report, and the
    // function has no name.
    assert_eq!(string(&lua, "select(2, pcall(cjson.encode, function() end))"), "Cannot serialise function: type not supported");
    assert_eq!(string(&lua, "select(2, pcall(cjson.encode))"), "bad argument #1 to '?' (expected 1 argument)");
    // luaL_argerror names the function as the caller spelled it.
    assert_eq!(
        error(&lua, "(function() local e = cjson.encode return e() end)()"),
        "user_script:1: bad argument #1 to 'e' (expected 1 argument)"
    );
}

#[test]
fn cjson_nesting_depth() {
    let lua = lua();
    let nest = |n: usize, key: &str| {
        format!("(function() local t = {{}} local c = t for i = 1, {n} do c{key} = {{}} c = c{key} end return cjson.encode(t) end)()")
    };
    assert_eq!(number(&lua, &format!("#{}", nest(999, "[1]"))), 2000.0);
    assert_eq!(error(&lua, &nest(1000, "[1]")), "user_script:1: Cannot serialise, excessive nesting (1001)");
    assert_eq!(error(&lua, &nest(1000, ".a")), "user_script:1: Cannot serialise, excessive nesting (1001)");
    assert_eq!(
        error(&lua, "(function() local t = {} t[1] = t return cjson.encode(t) end)()"),
        "user_script:1: Cannot serialise, excessive nesting (1001)"
    );
    assert_eq!(number(&lua, "cjson.encode_max_depth(2)"), 2.0);
    assert_eq!(string(&lua, "cjson.encode({{1}})"), "[[1]]");
    assert_eq!(error(&lua, "cjson.encode({{{1}}})"), "user_script:1: Cannot serialise, excessive nesting (3)");

    assert_eq!(number(&lua, "#cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000))"), 1.0);
    assert_eq!(
        error(&lua, "cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001))"),
        "user_script:1: Found too many nested data structures (1001) at character 1001"
    );
    assert_eq!(
        error(&lua, "cjson.decode(string.rep('{\"a\":', 1001) .. '1' .. string.rep('}', 1001))"),
        "user_script:1: Found too many nested data structures (1001) at character 5001"
    );
}

#[test]
fn cjson_decode_values() {
    let lua = lua();
    assert_eq!(string(&lua, r#"cjson.encode(cjson.decode('[1,2,{"a":[true,false,null]}]'))"#), r#"[1,2,{"a":[true,false,null]}]"#);
    assert_eq!(number(&lua, "cjson.decode('[1,2,3]')[3]"), 3.0);
    assert_eq!(string(&lua, r#"type(cjson.decode('{"a":null}').a)"#), "userdata");
    assert!(matches!(eval(&lua, r#"cjson.decode('{"a":null}').a == cjson.null"#), Ok(Value::Boolean(true))));
    assert_eq!(bytes(&lua, r#"cjson.decode('"\\u00e9\\ud83d\\ude00\\/\\n\\u0000"')"#), b"\xc3\xa9\xf0\x9f\x98\x80/\n\0");
    assert_eq!(number(&lua, "cjson.decode(123)"), 123.0);
    assert_eq!(number(&lua, r#"cjson.decode('{"a":1,"a":2}').a"#), 2.0);
    assert_eq!(number(&lua, r"cjson.decode('[1]\0xxx')[1]"), 1.0);
    for (text, want) in [("0x10", 16.0), ("+5", 5.0), ("007", 7.0), ("1e3", 1000.0), ("-1.5E-2", -0.015), ("1.", 1.0), ("0x1p4", 16.0)] {
        assert_eq!(number(&lua, &format!("cjson.decode('{text}')")), want, "{text}");
    }
    assert_eq!(string(&lua, "tostring(cjson.decode('-Infinity'))"), "-inf");
    assert_eq!(string(&lua, "tostring(cjson.decode('NaN'))"), "nan");
    assert_eq!(string(&lua, "tostring(cjson.decode('1e400'))"), "inf");
    assert_eq!(string(&lua, "tostring(1/cjson.decode('-0'))"), "-inf");
}

#[test]
fn cjson_decode_errors() {
    let lua = lua();
    for (text, want) in [
        ("x", "Expected value but found invalid token at character 1"),
        ("", "Expected value but found T_END at character 1"),
        (" ", "Expected value but found T_END at character 2"),
        ("[1,]", "Expected value but found T_ARR_END at character 4"),
        ("[1 2]", "Expected comma or array end but found T_NUMBER at character 4"),
        ("[1,2", "Expected comma or array end but found T_END at character 5"),
        ("{1:2}", "Expected object key string but found T_NUMBER at character 2"),
        (r#"{"a" 2}"#, "Expected colon but found T_NUMBER at character 6"),
        (r#"{"a":2,}"#, "Expected object key string but found T_OBJ_END at character 8"),
        (r#"{"a":2 "b"}"#, "Expected comma or object end but found T_STRING at character 8"),
        ("[1] x", "Expected the end but found invalid token at character 5"),
        (r#""abc"#, "Expected value but found unexpected end of string at character 5"),
        (r#""\\x""#, "Expected value but found invalid escape code at character 2"),
        (r#""\\u12""#, "Expected value but found invalid unicode escape code at character 2"),
        (r#""\\udc00""#, "Expected value but found invalid unicode escape code at character 2"),
        (r#""\\ud800\\u0041""#, "Expected value but found invalid unicode escape code at character 2"),
        ("tru", "Expected value but found invalid token at character 1"),
        ("nullx", "Expected the end but found invalid token at character 5"),
        ("-", "Expected value but found invalid number at character 1"),
        ("0x", "Expected the end but found invalid token at character 2"),
        ("1e+", "Expected the end but found invalid token at character 2"),
        (".5", "Expected value but found invalid token at character 1"),
        (r"a\0b", "JSON parser does not support UTF-16 or UTF-32"),
    ] {
        assert_eq!(error(&lua, &format!("cjson.decode('{text}')")), format!("user_script:1: {want}"), "{text}");
    }
    assert_eq!(error(&lua, "cjson.decode()"), "user_script:1: bad argument #1 to 'decode' (expected 1 argument)");
    assert_eq!(error(&lua, "cjson.decode({})"), "user_script:1: bad argument #1 to 'decode' (string expected, got table)");
    // The message is a plain string a script can use.
    assert_eq!(
        string(&lua, "'bad: ' .. select(2, pcall(cjson.decode, 'x'))"),
        "bad: Expected value but found invalid token at character 1"
    );
}

#[test]
fn cjson_configuration() {
    let lua = lua();
    assert_eq!(number(&lua, "cjson.encode_number_precision(3)"), 3.0);
    assert_eq!(string(&lua, "cjson.encode(math.pi)"), "3.14");
    assert_eq!(
        error(&lua, "cjson.encode_number_precision(15)"),
        "user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"
    );
    assert_eq!(
        error(&lua, "cjson.encode_max_depth(0)"),
        "user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"
    );
    assert_eq!(
        error(&lua, "cjson.encode_max_depth(1, 2)"),
        "user_script:1: bad argument #2 to 'encode_max_depth' (found too many arguments)"
    );
    assert_eq!(number(&lua, "cjson.decode_max_depth('5')"), 5.0);
    assert_eq!(number(&lua, "cjson.decode_max_depth(2.7)"), 2.0);

    assert!(matches!(eval(&lua, "cjson.encode_invalid_numbers(true)"), Ok(Value::Boolean(true))));
    assert_eq!(string(&lua, "cjson.encode({1/0,-1/0,0/0})"), "[inf,-inf,nan]");
    assert_eq!(string(&lua, "cjson.encode_invalid_numbers('null')"), "null");
    assert_eq!(string(&lua, "cjson.encode({1/0,-1/0,0/0})"), "[null,null,null]");
    assert_eq!(
        error(&lua, "cjson.encode_invalid_numbers(1)"),
        "user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option '1')"
    );
    assert!(matches!(eval(&lua, "cjson.encode_keep_buffer(false)"), Ok(Value::Boolean(false))));
    assert!(matches!(eval(&lua, "cjson.encode_keep_buffer('on')"), Ok(Value::Boolean(true))));

    assert!(matches!(eval(&lua, "cjson.decode_invalid_numbers(false)"), Ok(Value::Boolean(false))));
    assert_eq!(error(&lua, "cjson.decode('0x10')"), "user_script:1: Expected value but found invalid number at character 1");
    assert_eq!(error(&lua, "cjson.decode('inf')"), "user_script:1: Expected value but found invalid token at character 1");
    assert_eq!(error(&lua, "cjson.decode('+1')"), "user_script:1: Expected value but found invalid token at character 1");
    assert_eq!(error(&lua, "cjson.decode('01')"), "user_script:1: Expected value but found invalid number at character 1");
    assert_eq!(string(&lua, "tostring(cjson.decode('-0'))"), "-0");

    assert_eq!(
        string(&lua, "(function() local a, b, c = cjson.encode_sparse_array(true, 3, 5) return tostring(a) .. b .. c end)()"),
        "true35"
    );
    assert_eq!(
        error(&lua, "cjson.encode_sparse_array(true, -1)"),
        "user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"
    );
    assert_eq!(error(&lua, "cjson.encode_keep_buffer(1)"), "user_script:1: bad argument #1 to 'encode_keep_buffer' (invalid option '1')");
    assert_eq!(string(&lua, "cjson.encode({[20]=1})"), "{\"20\":1}");

    // cjson.new() has its own settings.
    assert_eq!(number(&lua, "cjson.new().encode_number_precision()"), 14.0);
    assert_eq!(number(&lua, "cjson.encode_number_precision()"), 3.0);
}

#[test]
fn cmsgpack_integers_of_each_width() {
    let lua = lua();
    assert_eq!(
        packed(&lua, "0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296"),
        "00017fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000"
    );
    assert_eq!(
        packed(&lua, "-1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649"),
        "ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffff"
    );
    assert_eq!(packed(&lua, "-2^63"), "d38000000000000000");
    assert_eq!(packed(&lua, "2^62 + 0.0"), "cf4000000000000000");
    assert_eq!(packed(&lua, "-0.0"), "00");
}

#[test]
fn cmsgpack_floats() {
    let lua = lua();
    assert_eq!(packed(&lua, "1.5"), "ca3fc00000");
    assert_eq!(packed(&lua, "0.1"), "cb3fb999999999999a");
    assert_eq!(packed(&lua, "2^63"), "ca5f000000");
    assert_eq!(packed(&lua, "2^64"), "ca5f800000");
    assert_eq!(packed(&lua, "1e300"), "cb7e37e43c8800759c");
    assert_eq!(packed(&lua, "math.huge, -math.huge"), "ca7f800000caff800000");
    assert_eq!(packed(&lua, "0/0"), "cbfff8000000000000");
}

#[test]
fn cmsgpack_strings_of_each_length_class() {
    let lua = lua();
    assert_eq!(packed(&lua, "''"), "a0");
    assert_eq!(packed(&lua, "string.rep('x', 16)"), format!("b0{}", "78".repeat(16)));
    assert_eq!(packed(&lua, "string.rep('a', 31)"), format!("bf{}", "61".repeat(31)));
    let header = |n: usize, len: usize| packed(&lua, &format!("string.rep('a', {n})"))[..len].to_string();
    assert_eq!(header(32, 6), "d92061");
    assert_eq!(header(255, 6), "d9ff61");
    assert_eq!(header(256, 8), "da010061");
    assert_eq!(header(65535, 8), "daffff61");
    assert_eq!(header(65536, 12), "db0001000061");
}

#[test]
fn cmsgpack_tables_and_other_types() {
    let lua = lua();
    assert_eq!(packed(&lua, "{}"), "90");
    assert_eq!(packed(&lua, "{1,2,3}"), "93010203");
    assert_eq!(packed(&lua, "{a=1}"), "81a16101");
    assert_eq!(packed(&lua, "{[1]=1,[3]=3}"), "8201010303");
    assert_eq!(packed(&lua, "{[2]=1}"), "810201");
    assert_eq!(packed(&lua, "{[1.5]=1}"), "81ca3fc0000001");
    assert_eq!(packed(&lua, "{n=nil}"), "90");
    assert_eq!(packed(&lua, "{1,{2,{3}}}"), "920192029103");
    assert_eq!(packed(&lua, "true, false, nil, type, cjson.null"), "c3c2c0c0c0");
    let sixteen = "91".repeat(16);
    assert_eq!(packed(&lua, "(function() local t = {} t[1] = t return t end)()"), format!("{sixteen}c0"));
    let array16 = packed(&lua, "(function() local t = {} for i = 1, 16 do t[i] = i end return t end)()");
    assert_eq!(&array16[..6], "dc0010");
    assert_eq!(error(&lua, "cmsgpack.pack()"), "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)");
}

#[test]
fn cmsgpack_unpack() {
    let lua = lua();
    let all = |expr: &str| string(&lua, &format!("table.concat({{{expr}}}, ',')"));
    assert_eq!(all("cmsgpack.unpack(cmsgpack.pack(1, 2.5, 'x'))"), "1,2.5,x");
    assert_eq!(number(&lua, "cmsgpack.unpack(cmsgpack.pack({1,2,3}))[3]"), 3.0);
    assert_eq!(string(&lua, "cmsgpack.unpack(cmsgpack.pack({a='b'})).a"), "b");
    assert_eq!(number(&lua, "select('#', cmsgpack.unpack(''))"), 0.0);
    assert_eq!(all("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))"), "1,1");
    assert_eq!(all("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)"), "2,2");
    assert_eq!(all("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)"), "-1,3");
    assert_eq!(all("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)"), "-1");
    assert_eq!(all("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)"), "2,1,2");
    assert_eq!(all("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)"), "-1,2,3");
    assert_eq!(all("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)"), "1,2,3");
    for (data, want) in [
        (r"\207\255\255\255\255\255\255\255\255", -1.0),
        (r"\207\128\0\0\0\0\0\0\0", -9223372036854775808.0),
        (r"\211\255\255\255\255\255\255\255\254", -2.0),
        (r"\209\255\127", -129.0),
        (r"\208\128", -128.0),
        (r"\210\128\0\0\0", -2147483648.0),
        (r"\206\255\255\255\255", 4294967295.0),
        (r"\202\63\192\0\0", 1.5),
        (r"\203\63\185\153\153\153\153\153\154", 0.1),
        (r"\220\0\1\5", 5.0),
        (r"\223\0\0\0\1\5\6", 6.0),
        ("12", 49.0),
    ] {
        let expr = format!("(function() local v = cmsgpack.unpack('{data}') return type(v) == 'table' and (v[1] or v[5]) or v end)()");
        assert_eq!(number(&lua, &expr), want, "{data}");
    }
    assert_eq!(string(&lua, r"cmsgpack.unpack('\217\2ab')"), "ab");
    assert!(matches!(eval(&lua, r"cmsgpack.unpack('\129\1\192')[1]"), Ok(Value::Nil)));
}

#[test]
fn cmsgpack_unpack_errors() {
    let lua = lua();
    for (expr, want) in [
        (r"cmsgpack.unpack('\205')", "user_script:1: Missing bytes in input."),
        (r"cmsgpack.unpack('\163ab')", "user_script:1: Missing bytes in input."),
        (r"cmsgpack.unpack('\193')", "user_script:1: Bad data format in input."),
        (r"cmsgpack.unpack('\196\1a')", "user_script:1: Bad data format in input."),
        (r"cmsgpack.unpack('\129\192\1')", "table index is nil"),
        ("cmsgpack.unpack({})", "user_script:1: bad argument #1 to 'unpack' (string expected, got table)"),
        ("cmsgpack.unpack()", "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)"),
        ("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)", "user_script:1: Invalid request to unpack with offset of -1 and limit of 3."),
        ("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)", "user_script:1: Start offset 4 greater than input length 3."),
        ("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)", "user_script:1: Invalid request to unpack with offset of 0 and limit of 3."),
        (
            "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))",
            "user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)",
        ),
        (
            r"cmsgpack.unpack(string.rep('\1', 100000))",
            "user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)",
        ),
        (r"cmsgpack.unpack(string.rep('\145', 100000))", "user_script:1: stack overflow (in function mp_decode_to_lua_array)"),
    ] {
        assert_eq!(error(&lua, expr), want, "{expr}");
    }
}

#[test]
fn cmsgpack_round_trips() {
    let lua = lua();
    let round_trip = "(function(...) local p = cmsgpack.pack(...) return p == cmsgpack.pack(cmsgpack.unpack(p)) end)";
    for args in ["1, -1, 2^40, -2^40, 0.5, 1e300", "'', string.rep('z', 70000)", "{1, {2, {a = 'b'}}, {x = {}}}", "true, false"] {
        assert!(matches!(eval(&lua, &format!("{round_trip}({args})")), Ok(Value::Boolean(true))), "{args}");
    }
    // Thousands of string results stay below mlua's limit on live references.
    assert_eq!(number(&lua, r"select('#', cmsgpack.unpack(string.rep('\161a', 7700)))"), 7700.0);
}

#[test]
fn bit_functions() {
    let lua = lua();
    for (expr, want) in [
        ("bit.tobit(2^32)", 0.0),
        ("bit.tobit(2^31)", -2147483648.0),
        ("bit.tobit(-1)", -1.0),
        ("bit.tobit(1.5)", 2.0),
        ("bit.tobit(2.5)", 2.0),
        ("bit.tobit(-1.5)", -2.0),
        ("bit.tobit(0xffffffff)", -1.0),
        ("bit.tobit(2^52)", 0.0),
        ("bit.tobit(2^53+2)", 1.0),
        ("bit.tobit(0/0)", 0.0),
        ("bit.tobit(1/0)", 0.0),
        ("bit.tobit('0x10')", 16.0),
        ("bit.tobit(-2^31-1)", 2147483647.0),
        ("bit.tobit(4294967295.5)", 0.0),
        ("bit.bnot(0)", -1.0),
        ("bit.bnot(-1)", 0.0),
        ("bit.band(0xff, 0x0f, 0x3)", 3.0),
        ("bit.band(5)", 5.0),
        ("bit.bor(1,2,4,8)", 15.0),
        ("bit.bxor(0xff, 0x0f)", 240.0),
        ("bit.lshift(1, 31)", -2147483648.0),
        ("bit.lshift(1, 32)", 1.0),
        ("bit.lshift(1, 33)", 2.0),
        ("bit.lshift(1, -1)", -2147483648.0),
        ("bit.rshift(-1, 28)", 15.0),
        ("bit.rshift(-1, 0)", -1.0),
        ("bit.arshift(-256, 4)", -16.0),
        ("bit.arshift(256, 4)", 16.0),
        ("bit.rol(0x12345678, 8)", 878082066.0),
        ("bit.ror(0x12345678, 8)", 2014458966.0),
        ("bit.rol(1, 0)", 1.0),
        ("bit.ror(1, 0)", 1.0),
        ("bit.rol(0x80000000, 1)", 1.0),
        ("bit.bswap(0x12345678)", 2018915346.0),
        ("bit.bswap(1)", 16777216.0),
    ] {
        assert_eq!(number(&lua, expr), want, "{expr}");
    }
    for (expr, want) in [
        ("bit.tohex(-1)", "ffffffff"),
        ("bit.tohex(255, -4)", "00FF"),
        ("bit.tohex(255, 4)", "00ff"),
        ("bit.tohex(255, 0)", ""),
        ("bit.tohex(255, 10)", "000000ff"),
        ("bit.tohex(255, -10)", "000000FF"),
        ("bit.tohex(-2^31, -2^31)", "80000000"),
        ("bit.tohex('16')", "00000010"),
        ("bit.tohex(0x1234abcd, -8)", "1234ABCD"),
    ] {
        assert_eq!(string(&lua, expr), want, "{expr}");
    }
    for (expr, want) in [
        ("bit.tohex(1, nil)", "bad argument #2 to 'tohex' (number expected, got nil)"),
        ("bit.tobit('abc')", "bad argument #1 to 'tobit' (number expected, got string)"),
        ("bit.tobit({})", "bad argument #1 to 'tobit' (number expected, got table)"),
        ("bit.tobit()", "bad argument #1 to 'tobit' (number expected, got no value)"),
        ("bit.band()", "bad argument #1 to 'band' (number expected, got no value)"),
        ("bit.band(1, 'x')", "bad argument #2 to 'band' (number expected, got string)"),
        ("bit.bor(1, 2, nil)", "bad argument #3 to 'bor' (number expected, got nil)"),
        ("bit.lshift(1)", "bad argument #2 to 'lshift' (number expected, got no value)"),
    ] {
        assert_eq!(error(&lua, expr), format!("user_script:1: {want}"), "{expr}");
    }
}

#[test]
fn struct_pack() {
    let lua = lua();
    for (expr, want) in [
        ("'>i', 1", "00000001"),
        ("'<i', 1", "01000000"),
        ("'i', -2", "feffffff"),
        ("'bBhHlLT', -1, 255, -2, 65535, -3, 4, 5", "fffffefffffffdffffffffffffff04000000000000000500000000000000"),
        ("'>I3', 0x123456", "123456"),
        ("'>i16', -1", "0000000000000000ffffffffffffffff"),
        ("'<i16', 1", "01000000000000000000000000000000"),
        ("'i0', 5", ""),
        ("'>f', 1.5", "3fc00000"),
        ("'<d', 0.1", "9a9999999999b93f"),
        ("'>d', -0.0", "8000000000000000"),
        ("'c3', 'abcdef'", "616263"),
        ("'c0', 'abcdef'", "616263646566"),
        ("'c', 'xyz'", "78"),
        ("'s', 'hi'", "686900"),
        ("'x'", "00"),
        ("'!4 b i', 1, 2", "0100000002000000"),
        ("'! b d', 1, 2", "01000000000000000000000000000040"),
        ("'!2 b i', 1, 2", "010002000000"),
        ("'<!4 b h b i', 1, 2, 3, 4", "010002000300000004000000"),
        ("'!8 c3 i', 'abc', 1", "6162630001000000"),
        ("'!4 b x i', 1, 2", "0100000002000000"),
        ("'>L', 2^64", "0000000000000000"),
        ("'>L', 2^63", "8000000000000000"),
        ("'>L', 0/0", "8000000000000000"),
        ("'>L', -1e300", "8000000000000000"),
        ("'>l', 1.9", "0000000000000001"),
        ("'>l', -1.9", "ffffffffffffffff"),
        ("'>b', 300", "2c"),
        ("'>i', '12'", "0000000c"),
        ("' > h', 258", "0102"),
    ] {
        assert_eq!(hex(&bytes(&lua, &format!("struct.pack({expr})"))), want, "{expr}");
    }
    for (expr, want) in [
        ("'i33', 1", "integral size 33 is larger than limit of 32"),
        ("'i99999999999', 1", "integral size overflow"),
        ("'c8', 'abc'", "bad argument #3 to 'pack' (string too short)"),
        ("'!3 b i', 1, 2", "alignment 3 is not a power of 2"),
        ("'y', 1", "bad argument #1 to 'pack' (invalid format option 'y')"),
        ("'i', 'x'", "bad argument #2 to 'pack' (number expected, got string)"),
        ("'i'", "bad argument #2 to 'pack' (number expected, got nil)"),
        ("'b', true", "bad argument #2 to 'pack' (number expected, got boolean)"),
        ("12", "bad argument #1 to 'pack' (invalid format option '1')"),
        ("", "bad argument #1 to 'pack' (string expected, got no value)"),
    ] {
        assert_eq!(error(&lua, &format!("struct.pack({expr})")), format!("user_script:1: {want}"), "{expr}");
    }
}

#[test]
fn struct_unpack_and_size() {
    let lua = lua();
    let all = |expr: &str| string(&lua, &format!("table.concat({{struct.unpack({expr})}}, ',')"));
    for (expr, want) in [
        (r"'>i', '\0\0\0\1'", "1,5"),
        (r"'<i', '\255\255\255\255'", "-1,5"),
        (r"'<I', '\255\255\255\255'", "4294967295,5"),
        (r"'bBhH', '\255\255\254\255\254\255'", "-1,255,-2,65534,7"),
        (r"'>i16', string.rep('\255', 16)", "-1,17"),
        (r"'<I16', string.rep('\255', 16)", "1.844674407371e+19,17"),
        (r"'>I3', '\1\2\3'", "66051,4"),
        (r"'>f', '\63\192\0\0'", "1.5,5"),
        (r"'<d', '\154\153\153\153\153\153\185\63'", "0.1,9"),
        ("'c3', 'abcdef'", "abc,4"),
        ("'c2', 'abcdef', 3", "cd,5"),
        (r"'bc0', '\3abcdef'", "abc,5"),
        (r"'b c0 b', '\2ab\5'", "ab,5,5"),
        (r"'b c0', '\0ab'", ",2"),
        (r"'s', 'hi\0rest'", "hi,4"),
        (r"'!4 b i', '\1\0\0\0\2\0\0\0'", "1,2,9"),
        (r"'x b', '\1\2'", "2,3"),
        ("'b', 'ab', 2", "98,3"),
        ("'i', 'abcd', 1.9", "1684234849,5"),
        ("'b', 'abcd', nil", "97,2"),
        ("'', 'abc'", "1"),
        (r"'>i', '\0\0\0\1\0\0\0\2', 5", "2,9"),
    ] {
        assert_eq!(all(expr), want, "{expr}");
    }
    for (expr, want) in [
        ("'c0', 'abc'", "format 'c0' needs a previous size"),
        ("'c0', '12'", "format 'c0' needs a previous size"),
        ("'s', 'hi'", "unfinished string in data"),
        ("'i', 'ab'", "bad argument #2 to 'unpack' (data string too short)"),
        ("'b', 'a', 0", "bad argument #3 to 'unpack' (offset must be 1 or greater)"),
        ("'b', 'ab', 3", "bad argument #2 to 'unpack' (data string too short)"),
        ("'b', 'ab', -1", "bad argument #2 to 'unpack' (data string too short)"),
        (r"'b c0', '\255ab'", "bad argument #2 to 'unpack' (data string too short)"),
        ("'b'", "bad argument #2 to 'unpack' (string expected, got no value)"),
        ("'z', 'ab'", "bad argument #1 to 'unpack' (invalid format option 'z')"),
    ] {
        assert_eq!(error(&lua, &format!("struct.unpack({expr})")), format!("user_script:1: {want}"), "{expr}");
    }
    for (fmt, want) in
        [("i", 4.0), ("bBhHlLTfdx", 43.0), ("!4 b i", 8.0), ("!8 b d", 16.0), ("c5", 5.0), ("c", 1.0), ("<>", 0.0), ("z", 0.0)]
    {
        assert_eq!(number(&lua, &format!("struct.size('{fmt}')")), want, "{fmt}");
    }
    for (fmt, want) in [
        ("'s'", "bad argument #1 to 'size' (option 's' has no fixed size)"),
        ("'c0'", "bad argument #1 to 'size' (option 'c0' has no fixed size)"),
        ("'!3'", "alignment 3 is not a power of 2"),
        ("'i40'", "integral size 40 is larger than limit of 32"),
        ("nil", "bad argument #1 to 'size' (string expected, got nil)"),
    ] {
        assert_eq!(error(&lua, &format!("struct.size({fmt})")), format!("user_script:1: {want}"), "{fmt}");
    }
}

#[test]
fn errors_reach_the_script_runner_as_lua_strings_with_the_line() {
    let lua = lua();
    let err = lua.load("local a = 1\n\nreturn cjson.decode('x')").set_name("@user_script").exec().expect_err("fails");
    match err {
        // mlua appends a traceback after the message.
        mlua::Error::RuntimeError(msg) => {
            assert_eq!(msg.lines().next(), Some("user_script:3: Expected value but found invalid token at character 1"))
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
    // Inside a coroutine too.
    let got = string(
        &lua,
        "(function() local co = coroutine.create(function() return cjson.decode('[') end) return select(2, coroutine.resume(co)) end)()",
    );
    assert_eq!(got, "user_script:1: Expected value but found T_END at character 2");
}
