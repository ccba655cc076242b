//! The operator CLI's library: demo seeding, the scripted demo scenario, Schedules and
//! manual healing passes.

pub mod demo;
pub mod ops;
