//! Stage 3, **carrying out**: what an allowed request does to a world, scenarios of requests
//! and events, and keeping the world file.
//!
//! Owns the state change of every action and the secrets it makes ([`changes`]), the scenario
//! script format and its runner ([`scenario`]), and file mechanics: the writers' lock and the
//! atomic replace ([`store`]).
//!
//! Must not: decide permissions (a change runs only on a decision the policies allowed; it
//! reads no role and checks no ownership), or format output for people.
//!
//! May use: [`crate::decide`], [`crate::world`].

pub mod changes;
pub mod log;
pub mod scenario;
pub mod store;
