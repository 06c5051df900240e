//! Lua scripting (EVAL/FUNCTION): for now only the libraries Redis exposes to scripts.
pub mod libs;
