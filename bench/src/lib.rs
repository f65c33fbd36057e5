//! Tollgate's benchmark: a load generator (`tollgate-loadgen`) that measures the
//! gateway against a fast mock upstream, as the difference and ratio to going direct.
//! `bench/run.sh` builds, pins and starts everything, and writes the report.

pub mod body;
pub mod client;
pub mod run;
pub mod stats;
pub mod suite;
pub mod validate;
