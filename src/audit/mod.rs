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

pub mod error;
pub mod exact;
pub mod findings;
pub mod impact;

pub use error::AuditError;
pub use exact::*;

// The actions the audit treats apart, named from their one definition (decide::action).
/// The action whose principals are API keys and whose resources are accounts.
const LOGIN: &str = crate::decide::action::Action::Login.name();
/// The action whose context names the caller when it is a service ID.
const RESET: &str = crate::decide::action::Action::KsApiKeyReset.name();
/// The argument naming the API key a request acts on.
const APIKEY: &str = "apikey";
