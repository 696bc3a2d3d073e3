//! The one integration-test binary (one link on 2 cores instead of one per file).

mod app;
mod determinism;
mod duckdb;
mod e2e;
mod faults;
mod generator;
mod llm;
mod postgres;
mod reader;
mod reference;
mod refunds;
