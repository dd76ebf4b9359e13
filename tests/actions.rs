//! The action table (`src/decide/action.rs`) and the shipped schema agree: every action of the
//! schema has a definition and every definition an action of the schema, with the same
//! principal and resource entity types. Adding an action to one and not the other fails here.

use cedar_policy::{EntityUid, Schema};
use keyward::decide::action::{Action, DEFINITIONS};
use keyward::decide::request::ACTIONS;
use std::collections::BTreeSet;
use std::str::FromStr;

fn shipped_schema() -> Schema {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/keyward.cedarschema");
    let text = std::fs::read_to_string(path).expect("the shipped schema is readable");
    Schema::from_cedarschema_str(&text)
        .expect("the shipped schema parses")
        .0
}

fn action_uid(name: &str) -> EntityUid {
    EntityUid::from_str(&format!(
        "Action::{}",
        serde_json::Value::String(name.into())
    ))
    .expect("an action uid")
}

fn sorted<'a>(types: impl Iterator<Item = &'a cedar_policy::EntityTypeName>) -> BTreeSet<String> {
    types.map(|t| t.to_string()).collect()
}

#[test]
fn schema_actions_and_definitions_have_the_same_names() {
    let schema = shipped_schema();
    let in_schema: BTreeSet<String> = schema
        .actions()
        .map(|a| a.id().unescaped().to_string())
        .collect();
    let defined: BTreeSet<String> = DEFINITIONS.iter().map(|d| d.name.to_string()).collect();
    let undefined: Vec<_> = in_schema.difference(&defined).collect();
    let not_in_schema: Vec<_> = defined.difference(&in_schema).collect();
    assert!(
        undefined.is_empty() && not_in_schema.is_empty(),
        "schema actions without a definition: {undefined:?}; definitions without a schema action: {not_in_schema:?}"
    );
}

#[test]
fn every_definition_has_the_schemas_principal_and_resource_types() {
    let schema = shipped_schema();
    for d in &DEFINITIONS {
        let uid = action_uid(d.name);
        let principals = schema
            .principals_for_action(&uid)
            .unwrap_or_else(|| panic!("{} is not in the schema", d.name));
        let resources = schema
            .resources_for_action(&uid)
            .unwrap_or_else(|| panic!("{} is not in the schema", d.name));
        let want_p: BTreeSet<String> = d.principal.types.iter().map(|t| t.to_string()).collect();
        let want_r: BTreeSet<String> = d.resources.iter().map(|t| t.to_string()).collect();
        assert_eq!(sorted(principals), want_p, "principal types of {}", d.name);
        assert_eq!(sorted(resources), want_r, "resource types of {}", d.name);
    }
}

#[test]
fn actions_is_the_table_in_order() {
    let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(ACTIONS.to_vec(), names);
    for (a, d) in Action::ALL.iter().zip(&DEFINITIONS) {
        assert_eq!(a.def().name, d.name);
        assert_eq!(Action::from_str(d.name).ok(), Some(*a));
        assert_eq!(a.to_string(), d.name);
    }
}
