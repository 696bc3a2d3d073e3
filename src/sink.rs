//! Sinks: the Parquet lake (encode rows into Arrow batches; publish files atomically) and the
//! per-worker lake operator that reads view changes at the frontier.

pub mod frontier;
pub mod lake;
pub mod parquet;
pub mod plain;
pub mod postgres;
pub mod readback;
