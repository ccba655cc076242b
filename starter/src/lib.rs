//! The operator CLI's library: demo seeding and the scripted demo scenario.

pub mod demo;
