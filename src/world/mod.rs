//! Stage 1, **the world**: what an account holds, read from a file and made valid.
//!
//! Owns located input (a bounded YAML or JSON tree whose every node knows its line and column,
//! [`yaml`]; the field readers shared by every file format, [`fields`]), the located
//! [`problem`]s every stage reports, the typed records of a world file ([`model`]) and their
//! cross-record checks ([`validate`]), what an id may hold and how unprintable text is escaped
//! ([`text`]), timestamps as Cedar reads them ([`time`]), display names ([`names`]), the
//! service and role names a world may use ([`roles`], filled from the schema by
//! [`crate::decide`]) and synthetic worlds ([`generate`]).
//!
//! Must not: decide anything a policy decides (it never learns what a role grants), talk to
//! Cedar, or format output for people.
//!
//! May use: nothing else of the crate. Every other stage builds on this one.

pub mod fastyaml;
pub mod fields;
pub mod generate;
pub mod model;
pub mod names;
pub mod problem;
pub mod roles;
mod stream;
pub mod text;
pub mod time;
pub mod validate;
pub mod yaml;

pub use model::*;
pub use roles::RoleCatalog;
