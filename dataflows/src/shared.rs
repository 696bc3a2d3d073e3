//! [`SharedText`]: a [`Text`] that repeats across many rows of one thread's state (a kitchen
//! id, a location name), kept once and pointed to: 8 bytes in a row instead of 24.
//!
//! WARNING: it must behave exactly like the `Text` inside, because it takes part in the
//! de-duplication tie-breaker ([`crate::bronze`]): `Eq`, `Ord` and `Hash` are the text's
//! (`Arc` delegates them), and serde writes and reads the plain `Text`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::text::Text;

/// A shared [`Text`]: equal texts made on one thread are one allocation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedText(Arc<Text>);

/// Distinct texts one thread shares at most; past it, new texts get their own copy (ids made
/// up by bad input must not grow the table without bound).
const SHARED_MAX: usize = 1 << 14;

thread_local! {
    /// The texts this thread shares. Per thread, so sharing takes no lock.
    static SHARED: RefCell<BTreeSet<Arc<Text>>> = const { RefCell::new(BTreeSet::new()) };
}

impl SharedText {
    /// The text inside.
    pub fn text(&self) -> &Text {
        &self.0
    }
}

impl From<Text> for SharedText {
    fn from(text: Text) -> SharedText {
        SHARED.with_borrow_mut(|shared| {
            if let Some(found) = shared.get(&text) {
                return SharedText(Arc::clone(found));
            }
            let text = Arc::new(text);
            if shared.len() < SHARED_MAX {
                shared.insert(Arc::clone(&text));
            }
            SharedText(text)
        })
    }
}

impl Serialize for SharedText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedText, D::Error> {
        Text::deserialize(deserializer).map(SharedText::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_and_order_like_text() {
        let (a, b) = (
            SharedText::from(Text::from("sf")),
            SharedText::from(Text::from("sf")),
        );
        assert!(Arc::ptr_eq(&a.0, &b.0));
        let texts = ["oakland", "sf", "a-much-longer-location-name", "sf"];
        let mut plain: Vec<Text> = texts.iter().map(|t| Text::from(*t)).collect();
        plain.sort();
        let mut shared: Vec<SharedText> = texts
            .iter()
            .map(|t| SharedText::from(Text::from(*t)))
            .collect();
        shared.sort();
        let back: Vec<Text> = shared.iter().map(|s| s.text().clone()).collect();
        assert_eq!(back, plain);
    }

    #[test]
    fn crosses_the_wire_as_its_text_and_is_shared_again() {
        let a = SharedText::from(Text::from("gk-1"));
        let bytes = bincode::serialize(&a).unwrap();
        assert_eq!(bytes, bincode::serialize(&Text::from("gk-1")).unwrap());
        let back: SharedText = bincode::deserialize(&bytes).unwrap();
        assert!(Arc::ptr_eq(&a.0, &back.0));
    }
}
