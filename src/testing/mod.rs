//! Stage 4, **testing decisions**: decision test files (`keyward test`) — their format and
//! `--update` rewriting ([`testfile`]), and running them with coverage by policy and by rule
//! ([`testrun`]).
//!
//! Must not: decide anything itself (every decision comes from [`crate::decide::Engine`] or
//! the scenario [`crate::evaluator::scenario::Runner`]), or format output.
//!
//! May use: [`crate::evaluator`], [`crate::decide`], [`crate::world`].

pub mod testfile;
pub mod testrun;
