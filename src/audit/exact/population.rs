//! The world as the residual reader needs it: each entity's ancestors and attributes (as
//! Cedar is given them), and per principal type the principals with their hierarchy and
//! attribute indexes. Owns only indexing; nothing here decides.

use super::bits::Bits;
use crate::decide::engine::Engine;
use crate::decide::entities::ty;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// An entity reference: (type, id).
pub(super) type Uid = crate::decide::entities::EntityRef;

/// The (type, id) of an entity reference in Cedar's JSON form.
pub(super) fn key(v: &Value) -> Option<Uid> {
    Some(Uid {
        ty: v["type"].as_str()?.to_string(),
        id: v["id"].as_str()?.to_string(),
    })
}

/// Every entity's ancestors and attributes, from the entities as given to Cedar.
pub(super) struct EntityIndex {
    /// Entity -> itself and its ancestors, for `E in principal.attr`.
    pub(super) ancestors: HashMap<Uid, Vec<Uid>>,
    /// Entity -> its attributes, in Cedar's JSON form.
    pub(super) attrs: HashMap<Uid, Arc<Value>>,
}

impl EntityIndex {
    /// Index Cedar's entities JSON (an array of entities).
    pub(super) fn new(json: Value) -> Self {
        let items = match json {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        let mut parents: HashMap<Uid, Vec<Uid>> = HashMap::new();
        let mut attrs = HashMap::new();
        for mut e in items {
            let Some(uid) = key(&e["uid"]) else { continue };
            let ps = e["parents"]
                .as_array()
                .map(|a| a.iter().filter_map(key).collect())
                .unwrap_or_default();
            parents.insert(uid.clone(), ps);
            attrs.insert(uid, Arc::new(e["attrs"].take()));
        }
        EntityIndex {
            ancestors: transitive(&parents),
            attrs,
        }
    }

    /// Whether `a` is `b` or below it.
    pub(super) fn entity_in(&self, a: &Uid, b: &Uid) -> bool {
        a == b || self.ancestors.get(a).is_some_and(|anc| anc.contains(b))
    }

    /// `e` and its ancestors (`e` alone when it is not an entity of the world).
    fn up<'s>(&'s self, e: &'s Uid) -> &'s [Uid] {
        self.ancestors
            .get(e)
            .map(Vec::as_slice)
            .unwrap_or(std::slice::from_ref(e))
    }
}

/// Each entity with itself and all its ancestors. The world's hierarchies are shallow (a
/// subject, its access groups, their grants; the classic hierarchy is numbers, not parents),
/// so this is linear in the memberships; `seen` is a set, so many parents cost no square.
fn transitive(parents: &HashMap<Uid, Vec<Uid>>) -> HashMap<Uid, Vec<Uid>> {
    let mut ancestors = HashMap::new();
    for uid in parents.keys() {
        let mut seen = vec![uid.clone()];
        let mut met: HashSet<&Uid> = HashSet::from([uid]);
        let mut stack = vec![uid];
        while let Some(u) = stack.pop() {
            for p in parents.get(u).into_iter().flatten() {
                if met.insert(p) {
                    seen.push(p.clone());
                    stack.push(p);
                }
            }
        }
        ancestors.insert(uid.clone(), seen);
    }
    ancestors
}

/// Principals of one population, by their positions in it (ascending). Sparse: what is kept
/// per entity or value must sum to the memberships, not to entities x principals.
type Members = Vec<u32>;

/// An entity-valued attribute: how many principals have it, and value -> principals.
type EntityAttr = (usize, HashMap<Uid, Members>);

/// The principals of one entity type and what the set algebra needs to know about them.
pub(super) struct Population {
    pub(super) ty: &'static str,
    pub(super) ids: Vec<String>,
    index: HashMap<String, usize>,
    /// Entity -> the principals of this type strictly below it (a principal's own entity is
    /// not kept: [`Population::is`] gives it).
    below: HashMap<Uid, Members>,
    bools: HashMap<String, Vec<Option<bool>>>,
    pub(super) longs: HashMap<String, Vec<Option<i64>>>,
    /// Attribute -> entity value -> principals holding that value.
    entity_attrs: HashMap<String, EntityAttr>,
    /// Each principal's attributes (Cedar's JSON form).
    pub(super) attrs_of: Vec<Arc<Value>>,
}

impl Population {
    /// The principal types of an engine's world with their ids, in world order: users, service
    /// IDs, and the API keys (the principals of `login`).
    pub(super) fn all(engine: &Engine, ents: &EntityIndex) -> Vec<Population> {
        let w = &engine.tr.world;
        [
            (ty::USER, w.users.iter().map(|u| u.id.clone()).collect()),
            (
                ty::SERVICE_ID,
                w.service_ids.iter().map(|s| s.id.clone()).collect(),
            ),
            (ty::USER_API_KEY, keys_of(engine, ty::USER_API_KEY)),
            (
                ty::SERVICE_ID_API_KEY,
                keys_of(engine, ty::SERVICE_ID_API_KEY),
            ),
        ]
        .into_iter()
        .map(|(t, ids)| Population::new(t, ids, ents))
        .collect()
    }

    fn new(ty: &'static str, ids: Vec<String>, ents: &EntityIndex) -> Self {
        let n = ids.len();
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut pop = Population {
            ty,
            ids,
            index,
            below: HashMap::new(),
            bools: HashMap::new(),
            longs: HashMap::new(),
            entity_attrs: HashMap::new(),
            attrs_of: Vec::with_capacity(n),
        };
        for i in 0..n {
            pop.add(i, ents);
        }
        pop
    }

    /// Index principal `i`: its attributes, and the entities it is below.
    fn add(&mut self, i: usize, ents: &EntityIndex) {
        let uid = Uid {
            ty: self.ty.to_string(),
            id: self.ids[i].clone(),
        };
        let attrs = ents.attrs.get(&uid);
        self.attrs_of
            .push(attrs.cloned().unwrap_or_else(|| Arc::new(Value::Null)));
        for a in ents.ancestors.get(&uid).into_iter().flatten() {
            if *a != uid {
                self.below.entry(a.clone()).or_default().push(index(i));
            }
        }
        if let Some(Value::Object(m)) = attrs.map(|a| a.as_ref()) {
            for (name, v) in m {
                self.add_attr(i, name, v);
            }
        }
    }

    /// Index one attribute of principal `i` by its kind: Bool, Long or entity.
    fn add_attr(&mut self, i: usize, name: &str, v: &Value) {
        let n = self.n();
        if let Some(b) = v.as_bool() {
            self.bools
                .entry(name.to_string())
                .or_insert_with(|| vec![None; n])[i] = Some(b);
        } else if let Some(l) = v.as_i64() {
            self.longs
                .entry(name.to_string())
                .or_insert_with(|| vec![None; n])[i] = Some(l);
        } else if let Some(e) = v.get("__entity").and_then(key) {
            let entry = self
                .entity_attrs
                .entry(name.to_string())
                .or_insert_with(|| (0, HashMap::new()));
            entry.0 += 1;
            entry.1.entry(e).or_default().push(index(i));
        }
    }

    /// How many principals.
    pub(super) fn n(&self) -> usize {
        self.ids.len()
    }

    /// `principal == k`: the principal that is `k` (nobody if `k` is of another type).
    pub(super) fn is(&self, k: &Uid) -> Bits {
        let mut b = Bits::empty(self.n());
        if k.ty == self.ty
            && let Some(&i) = self.index.get(&k.id)
        {
            b.set(i);
        }
        b
    }

    /// `[k…].contains(principal)`.
    pub(super) fn is_any(&self, ks: &[Uid]) -> Bits {
        ks.iter()
            .fold(Bits::empty(self.n()), |acc, k| acc.or(&self.is(k)))
    }

    /// `principal in e`: e itself (if a principal of this type) and everyone below it.
    pub(super) fn below(&self, e: &Uid) -> Bits {
        let below = self.below.get(e).map_or(&[][..], Vec::as_slice);
        Bits::of(self.n(), below).or(&self.is(e))
    }

    /// `principal in [e…]`.
    pub(super) fn below_any(&self, es: &[Uid]) -> Bits {
        es.iter()
            .fold(Bits::empty(self.n()), |acc, e| acc.or(&self.below(e)))
    }

    /// `e in principal.attr`: the principals whose attr is e or one of e's ancestors (`None`
    /// if some principal lacks the attribute: evaluating would error).
    pub(super) fn in_attr(&self, ents: &EntityIndex, e: &Uid, attr: &str) -> Option<Bits> {
        let (count, by_value) = self.entity_attrs.get(attr)?;
        if *count != self.n() {
            return None;
        }
        let mut b = Bits::empty(self.n());
        for members in ents.up(e).iter().filter_map(|a| by_value.get(a)) {
            b.set_all(members);
        }
        Some(b)
    }

    /// `principal.attr` of a Bool attribute every principal has (`None` otherwise).
    pub(super) fn bool_attr(&self, attr: &str) -> Option<Bits> {
        let vals = self.bools.get(attr)?;
        let mut b = Bits::empty(self.n());
        for (i, v) in vals.iter().enumerate() {
            if (*v)? {
                b.set(i);
            }
        }
        Some(b)
    }
}

/// A principal's position as kept in [`Members`].
fn index(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 principals of one type")
}

/// The ids of the API keys of one Cedar type.
fn keys_of(engine: &Engine, t: &str) -> Vec<String> {
    let keys = engine.tr.world.api_keys.iter().enumerate();
    keys.filter(|(i, _)| engine.tr.key_type(*i) == t)
        .map(|(_, k)| k.id.clone())
        .collect()
}
