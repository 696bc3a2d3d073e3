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
