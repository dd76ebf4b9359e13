//! Reading located YAML into typed fields: the text parsed into a located tree, unknown keys of
//! a mapping, and a node deserialised with serde, each problem located at the field it names.
//!
//! Owns the shape of these problems for every input file (worlds, scenario scripts, test files),
//! so that they read the same wherever they are reported. Must not know what any file means:
//! callers name the fields, the keys they accept and the types they want.
//!
//! May use: [`crate::world::yaml`] and [`crate::world::problem`].

use crate::world::problem::{Problem, Problems};
use crate::world::yaml::{self, Kind, Node};

/// Parse YAML or JSON text into a located tree; a syntax error is the one problem, in `file`.
pub fn parse_located(file: &str, src: &str) -> Result<Node, Problems> {
    yaml::parse(src).map_err(|e| {
        Problems::one(Problem::new(
            file,
            e.pos,
            "",
            format!("not valid YAML/JSON: {}", e.message),
        ))
    })
}

/// Report every key of a mapping that is not in `known`, at the key itself: "unknown `noun`
/// `key`, expected one of ...". A node that is not a mapping has no keys to report.
pub fn unknown_keys(file: &str, node: &Node, known: &[&str], noun: &str, p: &mut Vec<Problem>) {
    let Kind::Map(entries) = &node.kind else {
        return;
    };
    for (k, kpos, _) in entries {
        if !known.contains(&k.as_str()) {
            p.push(Problem::new(
                file,
                *kpos,
                k,
                format!("unknown {noun} `{k}`, expected one of {}", known.join(", ")),
            ));
        }
    }
}

/// Deserialize a located node with serde, each problem located at the field it names (`field`
/// is the node's own path, e.g. `steps[2]`).
pub fn de<T: serde::de::DeserializeOwned>(
    file: &str,
    node: &Node,
    field: &str,
    p: &mut Vec<Problem>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(node.to_json()) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let msg = e.inner().to_string();
            // An unknown field is reported at that field itself.
            let pos = msg
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .and_then(|f| node.key_pos(f))
                .unwrap_or_else(|| node.locate(&inner));
            let path = if inner == "." {
                field.to_string()
            } else {
                format!("{field}.{inner}")
            };
            p.push(Problem::new(file, pos, &path, msg));
            None
        }
    }
}
