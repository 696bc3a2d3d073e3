//! [`least_per_key`]: per key, the least value that has a positive count, as one operator that
//! keeps each distinct value once; and [`fold_per_key`], the same operator for any function of
//! a key's values (what `gold_order_header` sums).
//!
//! This is what `reduce` computes with "take the first copy with a positive count", and it is
//! how the bronze de-duplication picks its winners. It is a custom operator because of memory:
//! `reduce` keeps its input as an arrangement (a spine of batches, whose merges copy every
//! value once more) and its output as a second arrangement. The de-duplication's values carry
//! the raw body its tie-breaker needs, so that was the largest state of the whole job (a year
//! of San Francisco: ~650 MB of the 1.5 GB heap peak). Here the state is one map entry per
//! key with its distinct values and their counts; a time's output is recomputed only for the
//! keys that time touched.
//!
//! Times must be totally ordered: a time is applied once the input frontier has passed it, and
//! times are applied in order, so the output is the same for any batching or worker count.

use std::collections::BTreeMap;

use differential_dataflow::hashable::Hashable;
use differential_dataflow::lattice::Lattice;
use differential_dataflow::{AsCollection, Data, ExchangeData, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Capability;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

/// Per key of `pairs`, `project(key, value)` of the least value whose count is positive; a key
/// without one has no output. Updates are exchanged by the key's hash.
pub fn least_per_key<'s, T, K, V, W, P>(
    pairs: VecCollection<'s, T, (K, V)>,
    name: &str,
    project: P,
) -> VecCollection<'s, T, W>
where
    T: Timestamp + Lattice + TotalOrder,
    K: ExchangeData + Hashable,
    V: ExchangeData,
    W: Data,
    P: Fn(&K, &V) -> W + 'static,
{
    fold_per_key(pairs, name, move |key, copies| {
        copies
            .iter()
            .find(|(_, n)| *n > 0)
            .map(|(v, _)| project(key, v))
    })
}

/// Per key of `pairs`, `logic(key, values)` of its distinct values with their nonzero counts
/// (sorted by value; counts may be negative mid-stream, as in a `reduce`); `None` means no
/// output for the key. Updates are exchanged by the key's hash. This is `reduce` with one
/// output row per key, without `reduce`'s two arrangements: the state is one map entry per
/// key, and a time's output is recomputed only for the keys that time touched.
pub fn fold_per_key<'s, T, K, V, W, L>(
    pairs: VecCollection<'s, T, (K, V)>,
    name: &str,
    logic: L,
) -> VecCollection<'s, T, W>
where
    T: Timestamp + Lattice + TotalOrder,
    K: ExchangeData + Hashable,
    V: ExchangeData,
    W: Data,
    L: Fn(&K, &[(V, isize)]) -> Option<W> + 'static,
{
    fold_per_key_into(pairs, name, move |key, values, out| {
        out.extend(logic(key, values));
    })
}

/// [`fold_per_key`] with any number of output rows per key: `logic(key, values, out)` pushes
/// them to `out` (a multiset; its order does not matter). A time emits, per key it touched,
/// the difference between the rows before and after it.
pub fn fold_per_key_into<'s, T, K, V, W, L>(
    pairs: VecCollection<'s, T, (K, V)>,
    name: &str,
    logic: L,
) -> VecCollection<'s, T, W>
where
    T: Timestamp + Lattice + TotalOrder,
    K: ExchangeData + Hashable,
    V: ExchangeData,
    W: Data,
    L: Fn(&K, &[(V, isize)], &mut Vec<W>) + 'static,
{
    let exchange = Exchange::new(|((key, _), _, _): &((K, V), T, isize)| key.hashed().into());
    pairs
        .inner
        .unary_frontier(exchange, name, move |_capability, _info| {
            // Updates by time, each time with the capability to emit its changes at.
            let mut pending: BTreeMap<T, Pending<T, K, V>> = BTreeMap::new();
            let mut state: BTreeMap<K, Copies<V>> = BTreeMap::new();
            let (mut before, mut after) = (Vec::new(), Vec::new());
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    for ((key, value), time, diff) in data.drain(..) {
                        let entry = match pending.get_mut(&time) {
                            Some(entry) => entry,
                            None => {
                                let held = capability.delayed(&time, 0);
                                pending.entry(time).or_insert((held, Vec::new()))
                            }
                        };
                        entry.1.push((key, value, diff));
                    }
                });
                while let Some(first) = pending.first_entry() {
                    if frontier.less_equal(first.key()) {
                        break;
                    }
                    let (time, (capability, mut updates)) = first.remove_entry();
                    updates.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    let mut changes = Vec::new();
                    let mut updates = updates.into_iter().peekable();
                    while let Some((key, value, diff)) = updates.next() {
                        let copies = state.entry(key.clone()).or_default();
                        before.clear();
                        logic(&key, &copies.0, &mut before);
                        copies.update(value, diff);
                        while let Some((_, value, diff)) = updates.next_if(|next| next.0 == key) {
                            copies.update(value, diff);
                        }
                        after.clear();
                        logic(&key, &copies.0, &mut after);
                        if copies.0.is_empty() {
                            state.remove(&key);
                        }
                        if before != after {
                            let start = changes.len();
                            changes.extend(before.drain(..).map(|w| (w, -1)));
                            changes.extend(after.drain(..).map(|w| (w, 1)));
                            // Rows in both cancel: a key whose rows change in part (a
                            // delivery joins an order) emits only those.
                            let kept = differential_dataflow::consolidation::consolidate_slice(
                                changes.get_mut(start..).unwrap_or_default(),
                            );
                            changes.truncate(start + kept);
                        }
                    }
                    if !changes.is_empty() {
                        output.session(&capability).give_iterator(
                            changes.into_iter().map(|(w, diff)| (w, time.clone(), diff)),
                        );
                    }
                }
            }
        })
        .as_collection()
}

/// One time's updates, and the capability to emit their changes at.
type Pending<T, K, V> = (Capability<T>, Vec<(K, V, isize)>);

/// The distinct values of one key with their nonzero counts, sorted by value.
#[derive(Debug)]
struct Copies<V>(Vec<(V, isize)>);

impl<V> Default for Copies<V> {
    fn default() -> Self {
        Copies(Vec::new())
    }
}

impl<V: Ord> Copies<V> {
    fn update(&mut self, value: V, diff: isize) {
        match self.0.binary_search_by(|(v, _)| v.cmp(&value)) {
            Ok(i) => {
                self.0[i].1 += diff;
                if self.0[i].1 == 0 {
                    self.0.remove(i);
                }
            }
            Err(_) if diff == 0 => {}
            Err(i) => {
                // Nearly every key has one copy: no spare capacity (a first push reserves 4).
                self.0.reserve_exact(1);
                self.0.insert(i, (value, diff));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_epochs;
    use proptest::prelude::*;

    /// The same question asked of differential's `reduce`.
    fn by_reduce(epochs: Vec<Vec<((u8, u8), isize)>>) -> Vec<((u8, u8), u64, isize)> {
        run_epochs_with_diffs(epochs, |pairs| {
            pairs
                .reduce_named("reduce", |_k, copies, out| {
                    if let Some((v, _)) = copies.iter().find(|(_, n)| *n > 0) {
                        out.push((**v, 1));
                    }
                })
                .map(|(k, v)| (k, v))
        })
    }

    fn by_least(epochs: Vec<Vec<((u8, u8), isize)>>) -> Vec<((u8, u8), u64, isize)> {
        run_epochs_with_diffs(epochs, |pairs| {
            least_per_key(pairs, "least", |k: &u8, v: &u8| (*k, *v))
        })
    }

    /// A fold that reads every value and count, negative counts too: their weighted sum.
    fn weighted(key: u8, values: &[(u8, isize)]) -> Option<(u8, u8)> {
        let total: i64 = values
            .iter()
            .map(|(v, n)| i64::from(*v) * i64::try_from(*n).unwrap_or(0))
            .sum();
        let folded = u8::try_from(total.rem_euclid(251)).unwrap_or(0);
        (total != 0).then_some((key, folded))
    }

    fn by_reduce_weighted(epochs: Vec<Vec<((u8, u8), isize)>>) -> Vec<((u8, u8), u64, isize)> {
        run_epochs_with_diffs(epochs, |pairs| {
            pairs
                .reduce_named("reduce", |k, values, out| {
                    let values: Vec<(u8, isize)> = values.iter().map(|(v, n)| (**v, *n)).collect();
                    if let Some((_, w)) = weighted(*k, &values) {
                        out.push((w, 1));
                    }
                })
                .map(|(k, v)| (k, v))
        })
    }

    fn by_fold(epochs: Vec<Vec<((u8, u8), isize)>>) -> Vec<((u8, u8), u64, isize)> {
        run_epochs_with_diffs(epochs, |pairs| {
            fold_per_key(pairs, "fold", |k: &u8, values: &[(u8, isize)]| {
                weighted(*k, values)
            })
        })
    }

    /// Several rows per key, repeats included: `(key, value / 2)` per value with a positive
    /// count.
    fn halves(key: u8, values: &[(u8, isize)]) -> Vec<(u8, u8)> {
        values
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(v, _)| (key, v / 2))
            .collect()
    }

    fn by_reduce_halves(epochs: Vec<Vec<((u8, u8), isize)>>) -> Vec<((u8, u8), u64, isize)> {
        run_epochs_with_diffs(epochs, |pairs| {
            pairs
                .reduce_named("reduce", |k, values, out| {
                    let values: Vec<(u8, isize)> = values.iter().map(|(v, n)| (**v, *n)).collect();
                    for (_, half) in halves(*k, &values) {
                        out.push((half, 1));
                    }
                })
                .map(|(k, v)| (k, v))
        })
    }

    fn by_fold_into(epochs: Vec<Vec<((u8, u8), isize)>>) -> Vec<((u8, u8), u64, isize)> {
        run_epochs_with_diffs(epochs, |pairs| {
            fold_per_key_into(pairs, "fold", |k: &u8, values: &[(u8, isize)], out| {
                out.extend(halves(*k, values));
            })
        })
    }

    /// [`run_epochs`] with explicit diffs: `(row, diff)` is fed as `row` with count `diff`.
    fn run_epochs_with_diffs<F>(
        epochs: Vec<Vec<((u8, u8), isize)>>,
        build: F,
    ) -> Vec<((u8, u8), u64, isize)>
    where
        F: for<'s> FnOnce(VecCollection<'s, u64, (u8, u8)>) -> VecCollection<'s, u64, (u8, u8)>
            + Send
            + Sync
            + 'static,
    {
        run_epochs(epochs, move |updates| build(updates.explode(Some)))
    }

    #[test]
    fn keeps_the_least_positive_copy_and_follows_retractions() {
        let out = by_least(vec![
            vec![((1, 5), 1), ((1, 3), 1), ((2, 9), 1)],
            vec![((1, 3), -1)],
            vec![((1, 5), -1), ((2, 9), 1)],
        ]);
        assert_eq!(
            out,
            vec![
                ((1, 3), 0, 1),
                ((2, 9), 0, 1),
                ((1, 3), 1, -1),
                ((1, 5), 1, 1),
                ((1, 5), 2, -1),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any inserts and retractions (counts may go negative, as a key's copies can in a
        /// retraction-first epoch): the same output as differential's reduce.
        #[test]
        fn agrees_with_reduce(epochs in proptest::collection::vec(
            proptest::collection::vec(((0u8..4, 0u8..6), prop_oneof![Just(1isize), Just(-1), Just(2)]), 0..12),
            1..5,
        )) {
            prop_assert_eq!(by_least(epochs.clone()), by_reduce(epochs));
        }

        /// A fold of every value and count, the same as `reduce` with that logic.
        #[test]
        fn fold_agrees_with_reduce(epochs in proptest::collection::vec(
            proptest::collection::vec(((0u8..4, 0u8..6), prop_oneof![Just(1isize), Just(-1), Just(2)]), 0..12),
            1..5,
        )) {
            prop_assert_eq!(by_fold(epochs.clone()), by_reduce_weighted(epochs));
        }

        /// Several rows per key, some repeated, some in common before and after a time: the
        /// same output as `reduce` pushing those rows.
        #[test]
        fn fold_into_agrees_with_reduce(epochs in proptest::collection::vec(
            proptest::collection::vec(((0u8..4, 0u8..6), prop_oneof![Just(1isize), Just(-1), Just(2)]), 0..12),
            1..5,
        )) {
            prop_assert_eq!(by_fold_into(epochs.clone()), by_reduce_halves(epochs));
        }
    }
}
