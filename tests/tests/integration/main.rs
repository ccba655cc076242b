//! relink's integration tests, one module per slice, in one test binary (the suite
//! links once). Each test starts its own relink with `relink_tests::spawn_app` (a fresh
//! database and task queue on the shared Temporal dev server and PostgreSQL that
//! `./dev test` provides) and speaks to it over HTTP, Temporal and SQL.
#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod alerts;
mod bootstrap;
mod browser;
mod concurrency;
mod dashboard;
mod drills;
mod emails;
mod events;
mod healing;
mod interleavings;
mod long_runs;
mod observability;
mod openapi;
mod privileges;
mod reconnect;
mod replay;
mod safe_delete;
mod scale_out;
mod schedules;
mod schema;
mod sdk_contract;
mod send_gate;
mod shutdown;
mod sim_contract;
mod storm;
mod subscriptions;
mod web_input;
