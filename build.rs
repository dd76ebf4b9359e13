//! Embeds the shipped schema, base policies and variants into the binary, so that an installed
//! `keyward` works anywhere; rebuilt whenever a file under `policies/` or `schemas/` changes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn cedar_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "cedar"));
    files.sort();
    files
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=policies");
    println!("cargo:rerun-if-changed=schemas");
    let rel = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
    let mut out = String::new();
    let schema = root.join("schemas/keyward.cedarschema");
    writeln!(
        out,
        "pub static SCHEMA: (&str, &str) = ({:?}, include_str!({:?}));",
        rel(&schema),
        schema.display()
    )
    .unwrap();
    writeln!(out, "pub static POLICIES: &[(&str, &str)] = &[").unwrap();
    for f in cedar_files(&root.join("policies")) {
        writeln!(out, "    ({:?}, include_str!({:?})),", rel(&f), f.display()).unwrap();
    }
    writeln!(out, "];").unwrap();
    writeln!(out, "pub static VARIANTS: &[(&str, &str, &str)] = &[").unwrap();
    let mut variants: Vec<PathBuf> = std::fs::read_dir(root.join("policies/variants"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    variants.sort();
    for v in variants {
        let name = v
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for f in cedar_files(&v) {
            writeln!(
                out,
                "    ({:?}, {:?}, include_str!({:?})),",
                name,
                rel(&f),
                f.display()
            )
            .unwrap();
        }
    }
    writeln!(out, "];").unwrap();
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("embedded.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
