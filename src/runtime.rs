//! The timely job.
