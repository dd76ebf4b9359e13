//! Stage 3, **auditing**: who may do what in a whole world, exactly; what a change of
//! policies or world would change; and the findings F1–F6.
//!
//! Owns the exact audit over residual policies ([`exact`]), change impact ([`impact`]) and
//! what counts as a finding ([`findings`]). Every permission it reports comes from the
//! policies through [`crate::decide`]: a residual policy is read as a set of principals, or
//! the principals are decided one by one.
//!
//! Must not: change a world, decide in Rust what a policy decides, or format output (that is
//! [`crate::report`]'s).
//!
//! May use: [`crate::decide`], [`crate::world`].

pub mod exact;
pub mod findings;
pub mod impact;

pub use exact::*;
