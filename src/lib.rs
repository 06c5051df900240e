//! strata: a Redis-compatible server with an embedded LSM storage engine.

pub mod engine;
