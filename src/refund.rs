//! Refund recommendations outside the dataflow.
//!
//! The deterministic refund policy lives in `caspers_dataflows::refunds` and runs inside the
//! dataflow. This module holds what must not: the optional LLM agent ([`llm`]), which does
//! network I/O and is therefore driven by a sink's background writer, never by an operator.
//! It produces the same `agent_response` document as the policy, so the rest of the pipeline
//! (the Postgres table, the Refund Manager app) cannot tell the two apart.

pub mod llm;
