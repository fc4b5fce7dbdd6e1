//! Sessionization: `sessionize`.

pub mod sessionize;
