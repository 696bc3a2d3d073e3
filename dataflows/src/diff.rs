//! `Sums`: the monoid that carries counts, quantities and money in differential's diff field,
//! so `explode` + `count_total` aggregates them without a `reduce` that re-reads every value.

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use serde::{Deserialize, Serialize};

/// Accumulated (rows, quantity, money in micro-dollars) of a group.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Sums {
    /// Number of contributing rows (orders, once per distinct order where that is what is fed).
    pub rows: i64,
    /// Sum of quantities.
    pub qty: i64,
    /// Sum of money, micro-dollars.
    pub money: i64,
}

impl IsZero for Sums {
    fn is_zero(&self) -> bool {
        self.rows == 0 && self.qty == 0 && self.money == 0
    }
}

impl Semigroup for Sums {
    fn plus_equals(&mut self, rhs: &Self) {
        self.rows += rhs.rows;
        self.qty += rhs.qty;
        self.money += rhs.money;
    }
}

impl Monoid for Sums {
    fn zero() -> Self {
        Sums::default()
    }
}

impl Abelian for Sums {
    fn negate(&mut self) {
        self.rows = -self.rows;
        self.qty = -self.qty;
        self.money = -self.money;
    }
}

impl Multiply<isize> for Sums {
    type Output = Sums;
    fn multiply(self, rhs: &isize) -> Sums {
        // isize is 64 bits on every platform we build for; the conversion cannot fail there.
        let k = i64::try_from(*rhs).unwrap_or(i64::MAX);
        Sums {
            rows: self.rows * k,
            qty: self.qty * k,
            money: self.money * k,
        }
    }
}

/// The rows of one order's winners merged per group: one row per group with `rows` 1 (the
/// order counts once, however many of its rows or winners fall in the group), quantities
/// and money summed. Sorted by group.
pub fn once_per_group<K: Ord>(rows: impl Iterator<Item = (K, Sums)>) -> Vec<(K, Sums)> {
    let mut rows: Vec<(K, Sums)> = rows.collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            kept.1.qty += next.1.qty;
            kept.1.money += next.1.money;
        }
        same
    });
    for (_, sums) in &mut rows {
        sums.rows = 1;
    }
    rows
}
