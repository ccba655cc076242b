//! The operator CLI as a library: typed arguments ([`cli`]), one function per command
//! ([`commands`]), what the commands print ([`render`]), the operations tests also call
//! ([`ops`]: Schedules, healing passes, Safe delete requests) and the scripted demo
//! ([`demo`]).

pub mod cli;
pub mod commands;
pub mod demo;
pub mod ops;
pub mod render;
