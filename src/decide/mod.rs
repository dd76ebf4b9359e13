//! Stage 2, **deciding**: a keyward request becomes a Cedar request, and Cedar decides it.
//!
//! Owns where policies and the schema come from ([`policy`]), the world as Cedar entities
//! ([`entities`]), the action table and the translation of a request with its scopes
//! ([`request`]), the call into `cedar-policy` and the shape of a decision ([`engine`]), and
//! Cedar's own export formats ([`export`]), and what one change would do to a decision
//! ([`explain`], for `check --explain`).
//!
//! Must not: change a world, decide in Rust what a policy decides (no role name, no
//! ownership test: scope matching is translation and lives here), or format output.
//!
//! May use: [`crate::world`].

pub mod action;
pub mod conform;
pub mod engine;
pub mod entities;
pub mod explain;
pub mod export;
pub mod policy;
pub mod request;

pub use action::Action;
pub use engine::{Decision, Engine, Reason, Verdict};
pub use request::RequestSpec;
