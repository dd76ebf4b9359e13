//! Sets of principals of one type, as bitsets over that type's principals. Owns only the set
//! operations; what a set means is the residual reader's.

/// A set of principals of one type, as a bitset over that type's principals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    /// Nobody.
    pub(super) fn empty(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    /// Every one of the `n`.
    pub(super) fn all(n: usize) -> Self {
        let mut b = Bits(vec![u64::MAX; n.div_ceil(64)]);
        b.trim(n);
        b
    }
    fn trim(&mut self, n: usize) {
        if !n.is_multiple_of(64)
            && let Some(last) = self.0.last_mut()
        {
            *last &= (1u64 << (n % 64)) - 1;
        }
    }
    /// The set of the principals at these positions (each below `n`).
    pub(super) fn of(n: usize, members: &[u32]) -> Self {
        let mut b = Bits::empty(n);
        b.set_all(members);
        b
    }
    /// Add the principals at these positions.
    pub(super) fn set_all(&mut self, members: &[u32]) {
        for &i in members {
            self.set(i as usize);
        }
    }
    /// Add principal `i`.
    pub(super) fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    /// Whether principal `i` is in the set.
    pub(super) fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    /// Intersection.
    pub(super) fn and(mut self, o: &Bits) -> Self {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
        self
    }
    /// Union.
    pub(super) fn or(mut self, o: &Bits) -> Self {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
        self
    }
    /// Complement within the `n`.
    pub(super) fn not(mut self, n: usize) -> Self {
        self.0.iter_mut().for_each(|a| *a = !*a);
        self.trim(n);
        self
    }
    /// The principals in the set, in order.
    pub(super) fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            let mut b = bits;
            std::iter::from_fn(move || {
                if b == 0 {
                    return None;
                }
                let t = b.trailing_zeros() as usize;
                b &= b - 1;
                Some(w * 64 + t)
            })
        })
    }
}
