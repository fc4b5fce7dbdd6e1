//! The engine's one integration-test binary (one link, many areas).
//!
//! `cargo test --workspace --test integration` runs it all;
//! `TRAIL_SLT=name` limits the sqllogictest files to those whose path contains `name`.

mod integration {
    mod fixture;
    mod import;
    mod memory_limit;
    mod plans;
    mod slt;
}
