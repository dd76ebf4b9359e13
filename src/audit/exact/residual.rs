//! The residual reader: a residual policy (what Cedar's type-aware partial evaluation leaves
//! with the principal unknown) read as the set of principals of one population for which it
//! holds. One helper per residual shape; a shape or case it does not read is `None`, and the
//! caller then asks Cedar principal by principal.
//!
//! Must not guess: a missing attribute (an error in Cedar) is `None`, not `false`, and `&&`,
//! `||` and `if` evaluate their right side only for the principals Cedar would evaluate it
//! for. May use: the population and entity indexes beside it, Cedar's PST.

use super::bits::Bits;
use super::population::{EntityIndex, Population, Uid, key};
use cedar_policy::pst::{self, BinaryOp, Expr, Literal, UnaryOp, Var};

/// A residual policy: always true, or the conjunction of its clauses (`true` = when).
#[derive(Clone)]
pub(super) enum Residual {
    All,
    Clauses(Vec<(bool, Expr)>),
}

impl Residual {
    /// The clauses of a residual policy (`None`: Cedar cannot give its PST).
    pub(super) fn of(p: &cedar_policy::Policy) -> Option<Residual> {
        let pp = p.to_pst().ok()?;
        let clauses = pp.body().clauses().iter();
        Some(Residual::Clauses(
            clauses
                .map(|c| match c {
                    pst::Clause::When(x) => (true, x.as_ref().clone()),
                    pst::Clause::Unless(x) => (false, x.as_ref().clone()),
                })
                .collect(),
        ))
    }
}

/// A value while evaluating a residual with the resource known and the principal unknown.
#[derive(Clone, Debug)]
pub(super) enum V {
    Bool(bool),
    Long(i64),
    Str(String),
    Ent(Uid),
    Set(Vec<V>),
    /// A condition on the principal: the principals for which it holds.
    Who(Bits),
    /// The principal itself.
    Principal,
    /// An attribute path of the principal (`principal.identity.account`).
    PAttr(Vec<String>),
    /// A datetime, in milliseconds since the epoch.
    Dt(i64),
    /// A duration, in milliseconds.
    Dur(i64),
}

impl V {
    /// A value that does not depend on the principal.
    fn concrete(&self) -> bool {
        !matches!(self, V::PAttr(_) | V::Principal | V::Who(_))
    }
}

/// Reads the residuals of one (action, resource) as sets of the principals of `pop`.
pub(super) struct Reader<'a> {
    pub(super) ents: &'a EntityIndex,
    pub(super) pop: &'a Population,
    /// The resource the group is about.
    pub(super) res: &'a Uid,
}

impl Reader<'_> {
    /// A residual as the principals it holds for: each `when` clause intersected, each
    /// `unless` clause's complement intersected; `read` reads one clause.
    fn clauses(&self, r: &Residual, read: impl Fn(&Expr) -> Option<Bits>) -> Option<Bits> {
        let n = self.pop.n();
        let mut acc = Bits::all(n);
        if let Residual::Clauses(cs) = r {
            for (when, x) in cs {
                let b = read(x)?;
                acc = acc.and(&if *when { b } else { b.not(n) });
            }
        }
        Some(acc)
    }

    /// A shared residual (computed with the resource unknown), evaluated with the resource.
    pub(super) fn shared(&self, r: &Residual) -> Option<Bits> {
        let all = Bits::all(self.pop.n());
        self.clauses(r, |x| self.as_bits(&all, self.eval(&all, x)?))
    }

    /// A residual computed with the resource known (only the principal's shapes remain).
    pub(super) fn known(&self, r: &Residual) -> Option<Bits> {
        self.clauses(r, |x| self.set_of(x))
    }

    /// A condition as the principals (within `mask`) for which it holds.
    pub(super) fn as_bits(&self, mask: &Bits, v: V) -> Option<Bits> {
        match v {
            V::Bool(true) => Some(mask.clone()),
            V::Bool(false) => Some(Bits::empty(self.pop.n())),
            V::Who(b) => Some(b.and(mask)),
            V::PAttr(path) => self.path_test(mask, &path, |v| match v {
                V::Bool(b) => Some(b),
                _ => None,
            }),
            _ => None,
        }
    }

    /// Evaluate a residual with the resource known: concrete values where the principal plays
    /// no part, sets of principals (within `mask`) where it does.
    pub(super) fn eval(&self, mask: &Bits, x: &Expr) -> Option<V> {
        match x {
            Expr::Literal(l) => literal(l),
            Expr::Var(Var::Principal) => Some(V::Principal),
            Expr::Var(Var::Resource) => Some(V::Ent(self.res.clone())),
            Expr::UnaryOp { op, expr } => self.unary(mask, *op, expr),
            Expr::Set(items) => self.set(mask, items),
            Expr::GetAttr { expr, attr } => self.get_attr(mask, expr, attr),
            Expr::HasAttr { expr, attrs } => self.has_attr(mask, expr, attrs),
            Expr::Is {
                expr,
                entity_type,
                in_expr,
            } => self.is(mask, expr, entity_type, in_expr),
            Expr::IfThenElse {
                cond,
                then_expr,
                else_expr,
            } => self.if_then_else(mask, cond, then_expr, else_expr),
            Expr::BinaryOp { op, left, right } => self.binary(mask, *op, left, right),
            _ => None,
        }
    }

    /// `datetime("…")`, `duration("…")` of a literal, and `!`.
    fn unary(&self, mask: &Bits, op: UnaryOp, expr: &Expr) -> Option<V> {
        match op {
            UnaryOp::Datetime => Some(V::Dt(millis(lit_str(expr)?)?)),
            UnaryOp::Duration => Some(V::Dur(duration_ms(lit_str(expr)?)?)),
            UnaryOp::Not => self.not(mask, expr),
            _ => None,
        }
    }

    fn not(&self, mask: &Bits, expr: &Expr) -> Option<V> {
        match self.eval(mask, expr)? {
            V::Bool(b) => Some(V::Bool(!b)),
            v => Some(V::Who(self.as_bits(mask, v)?.not(self.pop.n()).and(mask))),
        }
    }

    /// A set literal: every element concrete.
    fn set(&self, mask: &Bits, items: &[std::sync::Arc<Expr>]) -> Option<V> {
        let vs = items.iter().map(|i| self.eval(mask, i));
        Some(V::Set(vs.collect::<Option<_>>()?))
    }

    /// `E.attr` of a known entity, or one more step of a principal's attribute path.
    fn get_attr(&self, mask: &Bits, expr: &Expr, attr: &str) -> Option<V> {
        match self.eval(mask, expr)? {
            V::Ent(k) => json_v(self.ents.attrs.get(&k)?.get(attr)?),
            V::Principal => Some(V::PAttr(vec![attr.to_string()])),
            V::PAttr(mut p) => {
                p.push(attr.to_string());
                Some(V::PAttr(p))
            }
            _ => None,
        }
    }

    /// `E has a.b`, of a known entity or of the principal.
    fn has_attr<'p, S: AsRef<str> + 'p>(
        &self,
        mask: &Bits,
        expr: &Expr,
        path: impl IntoIterator<Item = &'p S> + Copy,
    ) -> Option<V> {
        let has = |mut cur: &serde_json::Value| {
            for a in path {
                match cur.get(a.as_ref()) {
                    Some(v) => cur = v,
                    None => return false,
                }
            }
            true
        };
        match self.eval(mask, expr)? {
            V::Ent(k) => Some(V::Bool(has(self.ents.attrs.get(&k)?))),
            V::Principal => {
                let mut b = Bits::empty(self.pop.n());
                for i in mask.ones().filter(|&i| has(self.pop.attrs_of[i].as_ref())) {
                    b.set(i);
                }
                Some(V::Who(b))
            }
            _ => None,
        }
    }

    /// `E is T [in P]`, of a known entity or of the principal.
    fn is(
        &self,
        mask: &Bits,
        expr: &Expr,
        ty: &pst::EntityType,
        within: &Option<std::sync::Arc<Expr>>,
    ) -> Option<V> {
        let ty_name = ty.to_string();
        let within = |r: &Self| -> Option<Option<Uid>> {
            match within {
                None => Some(None),
                Some(p) => match r.eval(mask, p)? {
                    V::Ent(b) => Some(Some(b)),
                    _ => None,
                },
            }
        };
        match self.eval(mask, expr)? {
            V::Ent(k) => {
                let is = k.ty == ty_name;
                Some(V::Bool(match within(self)? {
                    None => is,
                    Some(b) => is && self.ents.entity_in(&k, &b),
                }))
            }
            V::Principal if ty_name != self.pop.ty => Some(V::Bool(false)),
            V::Principal => Some(match within(self)? {
                None => V::Bool(true),
                Some(b) => V::Who(self.pop.below(&b)),
            }),
            _ => None,
        }
    }

    /// `if c then t else e`: each branch only for the principals that reach it.
    fn if_then_else(
        &self,
        mask: &Bits,
        cond: &Expr,
        then_expr: &Expr,
        else_expr: &Expr,
    ) -> Option<V> {
        match self.eval(mask, cond)? {
            V::Bool(true) => self.eval(mask, then_expr),
            V::Bool(false) => self.eval(mask, else_expr),
            c => {
                let c = self.as_bits(mask, c)?;
                let notc = c.clone().not(self.pop.n()).and(mask);
                let t = self.as_bits(&c, self.eval(&c, then_expr)?)?;
                let e = self.as_bits(&notc, self.eval(&notc, else_expr)?)?;
                Some(V::Who(t.or(&e)))
            }
        }
    }

    /// The binary operators: `&&`, `||` short-circuit; the others evaluate both sides.
    fn binary(&self, mask: &Bits, op: BinaryOp, left: &Expr, right: &Expr) -> Option<V> {
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            return self.and_or(mask, op == BinaryOp::And, left, right);
        }
        let (l, r) = (self.eval(mask, left)?, self.eval(mask, right)?);
        match op {
            BinaryOp::Eq | BinaryOp::NotEq => self.compare(mask, op, l, r),
            BinaryOp::Less | BinaryOp::LessEq => self.compare(mask, op, l, r),
            BinaryOp::Greater | BinaryOp::GreaterEq => self.compare(mask, op, l, r),
            BinaryOp::Offset => offset(l, r),
            BinaryOp::In => self.is_in(mask, l, r),
            BinaryOp::Contains => self.contains(l, r),
            _ => None,
        }
    }

    /// `l && r`, `l || r`: the right side runs only where the left did not decide.
    fn and_or(&self, mask: &Bits, and: bool, left: &Expr, right: &Expr) -> Option<V> {
        let n = self.pop.n();
        let l = self.eval(mask, left)?;
        match (and, &l) {
            (true, V::Bool(false)) => return Some(V::Bool(false)),
            (false, V::Bool(true)) => return Some(V::Bool(true)),
            (_, V::Bool(_)) => {
                // true && r, false || r: the value of r.
                return Some(match self.eval(mask, right)? {
                    V::Bool(b) => V::Bool(b),
                    r => V::Who(self.as_bits(mask, r)?),
                });
            }
            _ => {}
        }
        let lb = self.as_bits(mask, l)?;
        let sub = if and {
            lb.clone()
        } else {
            lb.clone().not(n).and(mask)
        };
        let rb = match self.eval(&sub, right)? {
            V::Bool(true) => sub.clone(),
            V::Bool(false) => Bits::empty(n),
            r => self.as_bits(&sub, r)?,
        };
        Some(V::Who(if and { lb.and(&rb) } else { lb.or(&rb) }))
    }

    /// `==`, `!=`, `<`, `<=`, `>`, `>=`: the principal against an entity, a principal's
    /// attribute against a concrete value, or two concrete values.
    fn compare(&self, mask: &Bits, op: BinaryOp, l: V, r: V) -> Option<V> {
        let eq = matches!(op, BinaryOp::Eq | BinaryOp::NotEq);
        match (l, r) {
            (V::Principal, V::Ent(k)) | (V::Ent(k), V::Principal) if eq => {
                let b = self.pop.is(&k);
                Some(V::Who(if op == BinaryOp::Eq {
                    b
                } else {
                    b.not(self.pop.n())
                }))
            }
            (V::PAttr(p), c) if c.concrete() => {
                Some(V::Who(self.path_test(mask, &p, |v| compare(op, &v, &c))?))
            }
            (c, V::PAttr(p)) if c.concrete() => {
                Some(V::Who(self.path_test(mask, &p, |v| compare(op, &c, &v))?))
            }
            (l, r) => Some(V::Bool(compare(op, &l, &r)?)),
        }
    }

    /// `l in r`: known entities, the principal in entities, an entity in a principal's
    /// attribute, a principal's attribute in an entity.
    fn is_in(&self, mask: &Bits, l: V, r: V) -> Option<V> {
        let pop = self.pop;
        let up = |a: Uid| move |v: V| Some(self.ents.entity_in(&a, &ent(v)?));
        let down = |b: Uid| move |v: V| Some(self.ents.entity_in(&ent(v)?, &b));
        match (l, r) {
            (V::Ent(a), V::Ent(b)) => Some(V::Bool(self.ents.entity_in(&a, &b))),
            (V::Ent(a), V::Set(bs)) => Some(V::Bool(
                ents(bs)?.iter().any(|b| self.ents.entity_in(&a, b)),
            )),
            (V::Principal, V::Ent(b)) => Some(V::Who(pop.below(&b))),
            (V::Principal, V::Set(bs)) => Some(V::Who(pop.below_any(&ents(bs)?))),
            (V::Ent(a), V::PAttr(p)) if p.len() == 1 => {
                Some(V::Who(pop.in_attr(self.ents, &a, &p[0])?))
            }
            (V::Ent(a), V::PAttr(p)) => Some(V::Who(self.path_test(mask, &p, up(a))?)),
            (V::PAttr(p), V::Ent(b)) => Some(V::Who(self.path_test(mask, &p, down(b))?)),
            _ => None,
        }
    }

    /// `[..].contains(principal)`, or a set of concrete values containing a concrete value.
    fn contains(&self, l: V, r: V) -> Option<V> {
        match (l, r) {
            (V::Set(items), V::Principal) => Some(V::Who(self.pop.is_any(&ents(items)?))),
            (V::Set(items), v) if v.concrete() => {
                let found = items.iter().map(|it| compare(BinaryOp::Eq, it, &v));
                Some(V::Bool(
                    found.collect::<Option<Vec<bool>>>()?.contains(&true),
                ))
            }
            _ => None,
        }
    }

    /// For each principal in `mask`, follow `path` from it and test the value; `None` when a
    /// step is missing for some principal (Cedar would error) or the test cannot say.
    fn path_test(
        &self,
        mask: &Bits,
        path: &[String],
        test: impl Fn(V) -> Option<bool>,
    ) -> Option<Bits> {
        let mut out = Bits::empty(self.pop.n());
        for i in mask.ones() {
            let mut owner = self.pop.attrs_of[i].clone();
            let mut last = None;
            for (j, step) in path.iter().enumerate() {
                let v = owner.get(step.as_str())?;
                if j + 1 < path.len() {
                    owner = self.ents.attrs.get(&key(v.get("__entity")?)?)?.clone();
                } else {
                    last = Some(json_v(v)?);
                }
            }
            if test(last?)? {
                out.set(i);
            }
        }
        Some(out)
    }
}

/// The simpler reader of residuals computed with the resource known: only shapes over the
/// principal remain (no values to carry), so each reads straight to a set.
impl Reader<'_> {
    /// The principals of `pop` for which `x` is true; `None` if `x` has another shape.
    pub(super) fn set_of(&self, x: &Expr) -> Option<Bits> {
        let n = self.pop.n();
        match x {
            Expr::Literal(Literal::Bool(b)) => Some(if *b { Bits::all(n) } else { Bits::empty(n) }),
            Expr::UnaryOp {
                op: UnaryOp::Not,
                expr,
            } => Some(self.set_of(expr)?.not(n)),
            Expr::IfThenElse {
                cond,
                then_expr,
                else_expr,
            } => self.set_if(cond, then_expr, else_expr),
            Expr::Is {
                expr,
                entity_type,
                in_expr,
            } if is_principal(expr) => self.set_is(entity_type, in_expr),
            Expr::GetAttr { expr, attr } if is_principal(expr) => self.pop.bool_attr(attr),
            Expr::BinaryOp { op, left, right } => self.set_binary(*op, left, right),
            _ => None,
        }
    }

    fn set_binary(&self, op: BinaryOp, left: &Expr, right: &Expr) -> Option<Bits> {
        match op {
            BinaryOp::And => Some(self.set_of(left)?.and(&self.set_of(right)?)),
            BinaryOp::Or => Some(self.set_of(left)?.or(&self.set_of(right)?)),
            BinaryOp::Eq | BinaryOp::NotEq => self.set_eq(op, left, right),
            BinaryOp::In if is_principal(left) => self.set_principal_in(right),
            BinaryOp::In => self.set_in_attr(left, right),
            _ => self.set_long(op, left, right),
        }
    }

    fn set_if(&self, cond: &Expr, then_expr: &Expr, else_expr: &Expr) -> Option<Bits> {
        let c = self.set_of(cond)?;
        let t = self.set_of(then_expr)?;
        let e = self.set_of(else_expr)?;
        Some(c.clone().and(&t).or(&c.not(self.pop.n()).and(&e)))
    }

    /// `principal == E` (either side), else a Long attribute compared with a literal.
    fn set_eq(&self, op: BinaryOp, left: &Expr, right: &Expr) -> Option<Bits> {
        let other = if is_principal(left) {
            right
        } else if is_principal(right) {
            left
        } else {
            return self.set_long(op, left, right);
        };
        let b = self.pop.is(&lit_uid(other)?);
        Some(if op == BinaryOp::Eq {
            b
        } else {
            b.not(self.pop.n())
        })
    }

    /// `principal in E`, `principal in [E…]`.
    fn set_principal_in(&self, right: &Expr) -> Option<Bits> {
        match right {
            Expr::Set(items) => {
                let es = items.iter().map(|it| lit_uid(it));
                Some(self.pop.below_any(&es.collect::<Option<Vec<_>>>()?))
            }
            other => Some(self.pop.below(&lit_uid(other)?)),
        }
    }

    /// `E in principal.attr`.
    fn set_in_attr(&self, left: &Expr, right: &Expr) -> Option<Bits> {
        let e = lit_uid(left)?;
        match right {
            Expr::GetAttr { expr, attr } if is_principal(expr) => {
                self.pop.in_attr(self.ents, &e, attr)
            }
            _ => None,
        }
    }

    /// `principal.attr OP literal` (or mirrored) over a Long attribute every principal has.
    fn set_long(&self, op: BinaryOp, left: &Expr, right: &Expr) -> Option<Bits> {
        let (attr, lit, flipped) = match (left, right) {
            (Expr::GetAttr { expr, attr }, Expr::Literal(Literal::Long(l)))
                if is_principal(expr) =>
            {
                (attr, *l, false)
            }
            (Expr::Literal(Literal::Long(l)), Expr::GetAttr { expr, attr })
                if is_principal(expr) =>
            {
                (attr, *l, true)
            }
            _ => return None,
        };
        let vals = self.pop.longs.get(attr.as_str())?;
        let mut b = Bits::empty(self.pop.n());
        for (i, v) in vals.iter().enumerate() {
            let v = (*v)?;
            let (a, c) = if flipped { (lit, v) } else { (v, lit) };
            let holds = match op {
                BinaryOp::Eq => a == c,
                BinaryOp::NotEq => a != c,
                _ => order(op, &a, &c)?,
            };
            if holds {
                b.set(i);
            }
        }
        Some(b)
    }

    /// `principal is T [in E]`.
    fn set_is(&self, ty: &pst::EntityType, within: &Option<std::sync::Arc<Expr>>) -> Option<Bits> {
        let n = self.pop.n();
        if ty.to_string() != self.pop.ty {
            return Some(Bits::empty(n));
        }
        match within {
            None => Some(Bits::all(n)),
            Some(e) => self.set_principal_in(e),
        }
    }
}

fn is_principal(x: &Expr) -> bool {
    matches!(x, Expr::Var(Var::Principal))
}

fn lit_uid(x: &Expr) -> Option<Uid> {
    match x {
        Expr::Literal(Literal::EntityUID(u)) => Some(Uid {
            ty: u.ty.to_string(),
            id: u.eid.to_string(),
        }),
        _ => None,
    }
}

fn lit_str(x: &Expr) -> Option<&str> {
    match x {
        Expr::Literal(Literal::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn literal(l: &Literal) -> Option<V> {
    Some(match l {
        Literal::Bool(b) => V::Bool(*b),
        Literal::Long(l) => V::Long(*l),
        Literal::String(s) => V::Str(s.to_string()),
        Literal::EntityUID(u) => V::Ent(Uid {
            ty: u.ty.to_string(),
            id: u.eid.to_string(),
        }),
        _ => return None,
    })
}

fn ent(v: V) -> Option<Uid> {
    match v {
        V::Ent(k) => Some(k),
        _ => None,
    }
}

/// Every element an entity, or `None`.
fn ents(vs: Vec<V>) -> Option<Vec<Uid>> {
    vs.into_iter().map(ent).collect()
}

/// `datetime.offset(duration)`.
fn offset(l: V, r: V) -> Option<V> {
    match (l, r) {
        (V::Dt(a), V::Dur(d)) => Some(V::Dt(a.checked_add(d)?)),
        _ => None,
    }
}

/// A JSON attribute value (Cedar's form) as a value.
fn json_v(v: &serde_json::Value) -> Option<V> {
    Some(match v {
        serde_json::Value::Bool(b) => V::Bool(*b),
        serde_json::Value::Number(n) => V::Long(n.as_i64()?),
        serde_json::Value::String(s) => V::Str(s.clone()),
        serde_json::Value::Array(items) => V::Set(items.iter().map(json_v).collect::<Option<_>>()?),
        serde_json::Value::Object(m) => match m.get("__entity") {
            Some(e) => V::Ent(key(e)?),
            None => {
                let x = m.get("__extn")?;
                match (x["fn"].as_str(), x["arg"].as_str()) {
                    (Some("datetime"), Some(arg)) => V::Dt(millis(arg)?),
                    _ => return None,
                }
            }
        },
        serde_json::Value::Null => return None,
    })
}

/// Compare two concrete values with a comparison operator.
fn compare(op: BinaryOp, l: &V, r: &V) -> Option<bool> {
    Some(match (op, l, r) {
        (BinaryOp::Eq | BinaryOp::NotEq, l, r) => {
            let eq = match (l, r) {
                (V::Ent(a), V::Ent(b)) => a == b,
                (V::Long(a), V::Long(b)) => a == b,
                (V::Str(a), V::Str(b)) => a == b,
                (V::Bool(a), V::Bool(b)) => a == b,
                (V::Dt(a), V::Dt(b)) => a == b,
                _ => return None,
            };
            eq == (op == BinaryOp::Eq)
        }
        (_, V::Long(a), V::Long(b)) | (_, V::Dt(a), V::Dt(b)) => order(op, a, b)?,
        _ => return None,
    })
}

/// `<`, `<=`, `>`, `>=` of two numbers (`None` for another operator).
fn order(op: BinaryOp, a: &i64, b: &i64) -> Option<bool> {
    Some(match op {
        BinaryOp::Less => a < b,
        BinaryOp::LessEq => a <= b,
        BinaryOp::Greater => a > b,
        BinaryOp::GreaterEq => a >= b,
        _ => return None,
    })
}

/// Milliseconds of a Cedar duration string (`1d2h3m4s5ms`, optionally negative).
fn duration_ms(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.chars().next()? {
                'd' => (86_400_000, 1),
                'h' => (3_600_000, 1),
                'm' => (60_000, 1),
                's' => (1_000, 1),
                _ => return None,
            }
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[len..];
    }
    if neg {
        total.checked_neg()
    } else {
        Some(total)
    }
}

/// Milliseconds since the epoch of a Cedar datetime string.
fn millis(s: &str) -> Option<i64> {
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}
