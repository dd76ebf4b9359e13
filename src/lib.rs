//! keyward: who may do what with API keys in an IBM Cloud account, decided by Cedar policies
//! shipped as data (`policies/`, `schemas/`), explained, audited, tested and carried out.
//!
//! # The house
//!
//! One folder per stage; a request flows down through them and nothing reaches back up:
//!
//! ```text
//! cli        one file per command: its arguments beside its function; the exit status
//!  │
//! report     every renderer: text, JSON, jsonl, csv, markdown, the html page
//!  │
//! testing    decision test files, their runner and coverage
//!  │
//! audit ─ evaluator    who may do what (exact), impact, findings │ state changes, scenarios, the file store
//!  │         │
//! decide     policies and schema, entities, request translation, the Cedar engine
//!  │
//! world      located YAML, problems, the typed world and its validation, generation
//! ```
//!
//! Beside the stack, `import` (IBM Cloud exports and APIs to a world) and `prove` (solver
//! proofs over every world, counterexamples turned back into worlds) use only `decide` and
//! `world`; `report` and `cli` may use them.
//!
//! **The rule:** a module may use its own folder and the folders *below* it, never one above
//! (and `audit` and `evaluator`, side by side, do not use each other). `tests/layers.rs` reads
//! every `crate::` path in `src/` and fails on one that points up or sideways.
//!
//! Decisions come only from the policies and schema: Rust translates, asks Cedar, and carries
//! out what was allowed.

pub mod audit;
pub mod cli;
pub mod decide;
pub mod evaluator;
pub mod import;
pub mod prove;
pub mod report;
pub mod testing;
pub mod world;

pub use decide::engine::{Decision, Engine, Verdict};
pub use decide::request::RequestSpec;
