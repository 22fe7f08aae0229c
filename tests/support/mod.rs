//! Shared test fixtures. Each integration test file includes this with `mod support;`.
#![allow(dead_code)]

pub mod emulator;
