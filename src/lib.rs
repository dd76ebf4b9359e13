//! keyward: who may do what with API keys in an IBM Cloud account, decided by Cedar policies
//! shipped as data (`policies/`, `schemas/`), explained, and exported in Cedar's own formats.
//!
//! Flow: world file -> [`world::World`] -> [`entities::Translation`] -> Cedar request
//! ([`request`]) -> [`engine::Decision`] -> [`report`]. [`commands`] ties them to the CLI.

pub mod audit;
pub mod changes;
pub mod commands;
pub mod engine;
pub mod entities;
pub mod error;
pub mod export;
pub mod findings;
pub mod generate;
pub mod impact;
pub mod policy;
pub mod report;
pub mod request;
pub mod scenario;
pub mod store;
pub mod testfile;
pub mod testrun;
pub mod world;
pub mod yaml;

pub use engine::{Decision, Engine, Verdict};
pub use request::RequestSpec;
