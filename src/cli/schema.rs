//! `keyward schema world`: a JSON Schema (draft 2020-12) of the world file, for editors and
//! validators, generated from the Rust types the world is read into (`schemars`), never kept by
//! hand, so it cannot drift from what `validate` accepts field by field.
//!
//! Owns only printing it. What a JSON Schema cannot say (an id names a record of this world,
//! the roles the Cedar schema declares, the 20-key limit, Cedar's timestamps) stays
//! `keyward validate`'s; `docs/world-file.md` lists both.
//!
//! May use: `world::model` (the types).

use super::{Exit, Outcome};
use crate::world::World;

/// Which schema to print.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Which {
    /// The world file (YAML or JSON) that `--world` reads.
    World,
}

/// The arguments of `keyward schema`.
#[derive(clap::Args)]
pub struct Args {
    /// The file whose schema to print.
    #[arg(value_enum, value_name = "FILE_KIND")]
    pub which: Which,
}

/// Run `keyward schema` as parsed.
pub fn exec(a: Args) -> Outcome {
    match schema(a.which) {
        Ok(text) => Outcome::new(text, Exit::Ok),
        Err(e) => Outcome::usage(format!("error: cannot print the schema: {e}")),
    }
}

/// The JSON Schema of `which`, pretty-printed, with a final newline.
pub fn schema(which: Which) -> Result<String, serde_json::Error> {
    let schema = match which {
        Which::World => schemars::schema_for!(World),
    };
    Ok(serde_json::to_string_pretty(&schema)? + "\n")
}
