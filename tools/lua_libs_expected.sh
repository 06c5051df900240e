#!/bin/bash
# Regenerates tools/lua_libs_expected.txt from a real redis-server (7.0) listening on port $1
# (default 6390): each expression of tools/lua_libs_cases.txt is evaluated inside
# tools/lua_libs_wrapper.lua, which turns its value or error into one printable line.
# src/scripting/libs/tests.rs evaluates the same lines with strata's libraries and compares.
set -euo pipefail
cd "$(dirname "$0")"
port=${1:-6390}
template=$(cat lua_libs_wrapper.lua)
before=${template%%EXPR*}
after=${template#*EXPR}
while IFS= read -r expr; do
    redis-cli -p "$port" --raw EVAL "$before$expr$after" 0
done < lua_libs_cases.txt > lua_libs_expected.txt
