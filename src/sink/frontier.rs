//! `FrontierBuffer`: what every sink does first. Updates arrive in any order of time; a sink
//! may only act on a time once the input frontier has passed it, because only then are all of
//! that time's updates (retractions included) in hand.

use std::collections::BTreeMap;

use timely::progress::frontier::MutableAntichain;

/// Updates held by time until the frontier passes them.
#[derive(Debug)]
pub struct FrontierBuffer<D> {
    pending: BTreeMap<u64, Vec<(D, isize)>>,
}

impl<D> Default for FrontierBuffer<D> {
    fn default() -> Self {
        FrontierBuffer {
            pending: BTreeMap::new(),
        }
    }
}

impl<D> FrontierBuffer<D> {
    /// Holds one update.
    pub fn absorb(&mut self, data: D, time: u64, diff: isize) {
        self.pending.entry(time).or_default().push((data, diff));
    }

    /// Removes and returns, in time order, the updates of every time the frontier has passed.
    pub fn complete(&mut self, frontier: &MutableAntichain<u64>) -> Vec<(u64, Vec<(D, isize)>)> {
        let done: Vec<u64> = self
            .pending
            .keys()
            .copied()
            .filter(|t| !frontier.less_equal(t))
            .collect();
        done.into_iter()
            .filter_map(|t| self.pending.remove(&t).map(|updates| (t, updates)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_only_times_the_frontier_passed() {
        let mut buffer = FrontierBuffer::default();
        buffer.absorb("b", 2, 1);
        buffer.absorb("a", 1, 1);
        buffer.absorb("a", 1, -1);
        let mut frontier = MutableAntichain::new();
        frontier.update_iter([(2u64, 1i64)]);
        assert_eq!(
            buffer.complete(&frontier),
            vec![(1, vec![("a", 1), ("a", -1)])]
        );
        assert!(buffer.complete(&frontier).is_empty());
        frontier.update_iter([(2u64, -1i64)]);
        assert_eq!(buffer.complete(&frontier), vec![(2, vec![("b", 1)])]);
    }
}
