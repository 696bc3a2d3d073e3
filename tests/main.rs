//! The one integration-test binary (one link on 2 cores instead of one per file).

mod generator;
mod reader;
mod reference;
mod determinism;
mod e2e;
