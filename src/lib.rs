//! caspers: exact, always-fresh ghost-kitchen analytics on timely + differential dataflow.
//!
//! - [`generator`]: the deterministic order simulator that writes event files.
//! - [`source`]: reading event files (the original's JSON-array files, JSON Lines, single
//!   objects) into typed events and dead letters.
//! - [`runtime`]: the timely job: directory source, epochs, the views of
//!   `caspers_dataflows`, and the sinks.
//! - [`sink`]: the Parquet lake and the dead-letter files.
//! - [`cli`]: the command line.

#![warn(missing_docs)]

#[cfg(not(test))]
pub mod allocator;
pub mod app;
pub mod cli;
pub mod demo;
pub mod generator;
pub mod refund;
pub mod runtime;
pub mod sink;
pub mod source;
