//! Cohort retention: `retention`.

pub mod retention;
