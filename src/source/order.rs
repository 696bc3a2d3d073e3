//! The `order_created` body: its items, with prices read from the JSON number's decimal text
//! (never through `f64`) and every item checked before the order is accepted.
//!
//! One pass over the body: `items` and each item deserialize through visitors that take an
//! array of objects and report anything else as a `bad_body`; item fields are lenient
//! `Field`s, so a wrong type or value names the exact field. Customer fields are skipped:
//! the original's `dq` map may null them, and nothing downstream reads them from here.

use std::borrow::Cow;
use std::fmt;

use caspers_dataflows::model::Item;
use caspers_dataflows::money::{Money, MoneyError, MICROS_PER_USD};
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{excerpt, ReadError};
use super::record::{bad_type, int_field, json_kind, missing, Field, Path};

/// Largest accepted `price × qty` of one item line: one billion dollars. Real lines are tens
/// of dollars; the bound keeps a single hostile line from pushing the i64 micro-dollar sums of
/// the views anywhere near overflow.
pub const MAX_LINE_AMOUNT: Money = Money(1_000_000_000 * MICROS_PER_USD);

#[derive(Deserialize)]
struct OrderBody<'a> {
    #[serde(borrow)]
    items: Option<Items<'a>>,
}

/// `items`: an array whose elements are kept even when they are not objects, so the error
/// can say which element is wrong.
struct Items<'a>(Vec<Slot<'a>>);

/// One element of `items`.
enum Slot<'a> {
    Item(RawItem<'a>),
    /// Not an object; the JSON type, for the message.
    NotObject(&'static str),
}

/// One item, fields optional so absence is ours to report.
#[derive(Deserialize)]
struct RawItem<'a> {
    #[serde(borrow)]
    id: Option<Field<'a>>,
    #[serde(borrow)]
    category_id: Option<Field<'a>>,
    #[serde(borrow)]
    menu_id: Option<Field<'a>>,
    #[serde(borrow)]
    brand_id: Option<Field<'a>>,
    #[serde(borrow)]
    name: Option<Field<'a>>,
    /// Raw text, so the decimal digits reach [`Money::parse_decimal`] untouched.
    #[serde(borrow)]
    price: Option<&'a RawValue>,
    #[serde(borrow)]
    qty: Option<Field<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Items<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<Items<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Items<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`items` to be an array of item objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut slots = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(slot) = seq.next_element()? {
                    slots.push(slot);
                }
                Ok(Items(slots))
            }
        }
        deserializer.deserialize_seq(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Slot<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<Slot<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Slot<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an item object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawItem::deserialize(MapAccessDeserializer::new(map)).map(Slot::Item)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Slot::NotObject("an array"))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Slot::NotObject("a boolean"))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Slot::NotObject("a number"))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Slot::NotObject("a number"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Slot::NotObject("a number"))
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Slot::NotObject("a string"))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Slot::NotObject("null"))
            }
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Parses and checks the items of an `order_created` body. `items` may be empty (the order
/// then yields no silver rows) but must be present and an array.
pub(crate) fn parse_items(body: &str) -> Result<Vec<Item>, ReadError> {
    let order: OrderBody<'_> = serde_json::from_str(body).map_err(|e| ReadError::BadBody {
        problem: format!("not a valid order_created body: {e}"),
    })?;
    let slots = order.items.ok_or_else(|| ReadError::BadBody {
        problem: "`items` is missing or null".to_owned(),
    })?;
    let mut out = Vec::with_capacity(slots.0.len());
    for (i, slot) in slots.0.into_iter().enumerate() {
        match slot {
            Slot::Item(raw) => out.push(build_item(i, raw)?),
            Slot::NotObject(kind) => {
                return Err(ReadError::BadBody {
                    problem: format!("`items[{i}]` must be an object, found {kind}"),
                })
            }
        }
    }
    Ok(out)
}

fn build_item(i: usize, raw: RawItem<'_>) -> Result<Item, ReadError> {
    let id_field = |name: &'static str, value: Option<Field<'_>>| -> Result<i32, ReadError> {
        let path = Path::Item(i, name);
        let value = value.ok_or_else(|| missing(path))?;
        let n = int_field(path, value, i128::from(i32::MIN), i128::from(i32::MAX))?;
        Ok(i32::try_from(n).unwrap_or_default())
    };
    let id = id_field("id", raw.id)?;
    let category_id = id_field("category_id", raw.category_id)?;
    let menu_id = id_field("menu_id", raw.menu_id)?;
    let brand_id = id_field("brand_id", raw.brand_id)?;
    let name = match raw.name {
        None => return Err(missing(Path::Item(i, "name"))),
        Some(Field::Str(s)) => s.into_owned(),
        Some(other) => return Err(bad_type(Path::Item(i, "name"), "a string", &other)),
    };
    let price = parse_price(Path::Item(i, "price"), raw.price)?;
    let qty_path = Path::Item(i, "qty");
    let qty_value = raw.qty.ok_or_else(|| missing(qty_path))?;
    let qty = int_field(qty_path, qty_value, 1, i128::from(i32::MAX))?;
    let qty = i32::try_from(qty).unwrap_or_default();
    let line = price
        .checked_mul(i64::from(qty))
        .filter(|line| *line <= MAX_LINE_AMOUNT);
    if line.is_none() {
        return Err(ReadError::BadValue {
            field: Path::Item(i, "price").to_string(),
            problem: format!(
                "price {price} × qty {qty} exceeds the line limit of {MAX_LINE_AMOUNT}"
            ),
        });
    }
    Ok(Item {
        id,
        category_id,
        menu_id,
        brand_id,
        name,
        price,
        qty,
    })
}

/// A non-negative price from a JSON number's decimal text, or from a string holding one.
fn parse_price(field: Path<'_>, raw: Option<&RawValue>) -> Result<Money, ReadError> {
    let raw = raw.ok_or_else(|| missing(field))?;
    let text = raw.get();
    let not_decimal = |found: String| ReadError::BadType {
        field: field.to_string(),
        expected: "a decimal number",
        found,
    };
    let out_of_range = |decimal: &str| ReadError::BadValue {
        field: field.to_string(),
        problem: format!("{} is out of range", excerpt(decimal)),
    };
    let decimal: Cow<'_, str> = match text.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => Cow::Borrowed(text),
        Some(b'"') => serde_json::from_str::<Cow<'_, str>>(text)
            .map_err(|e| not_decimal(format!("an undecodable string ({e})")))?,
        Some(b'n') => return Err(missing(field)),
        _ => return Err(not_decimal(json_kind(text).to_owned())),
    };
    // `Money::parse_decimal` scales digit by digit, so "0e2000000000" would spin for seconds:
    // no real price needs an exponent beyond a few dozen.
    if exponent_too_large(&decimal) {
        return Err(out_of_range(&decimal));
    }
    let price = Money::parse_decimal(&decimal).map_err(|e| match e {
        MoneyError::NotANumber => not_decimal(format!("{:?}", excerpt(&decimal))),
        MoneyError::OutOfRange => out_of_range(&decimal),
    })?;
    if price < Money::ZERO {
        return Err(ReadError::BadValue {
            field: field.to_string(),
            problem: format!("negative price {price}"),
        });
    }
    Ok(price)
}

/// Whether a decimal text carries a readable exponent beyond ±40 (an unreadable one is left
/// to `Money::parse_decimal` to reject as not a number).
fn exponent_too_large(text: &str) -> bool {
    match text.find(['e', 'E']) {
        None => false,
        Some(at) => text
            .get(at + 1..)
            .and_then(|exp| exp.trim().parse::<i32>().ok())
            .is_some_and(|exp| !(-40..=40).contains(&exp)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(text: &str) -> Result<Money, &'static str> {
        let raw = RawValue::from_string(text.to_owned()).unwrap();
        parse_price(Path::Item(0, "price"), Some(&raw)).map_err(|e| e.reason())
    }

    #[test]
    fn price_from_decimal_text() {
        assert_eq!(price("9.47"), Ok(Money(9_470_000)));
        assert_eq!(price("\"9.47\""), Ok(Money(9_470_000)));
        assert_eq!(price("0"), Ok(Money(0)));
        assert_eq!(price("1.5e1"), Ok(Money(15_000_000)));
        assert_eq!(price("\"abc\""), Err("bad_type"));
        assert_eq!(price("true"), Err("bad_type"));
        assert_eq!(price("-1.5"), Err("bad_value"));
        assert_eq!(price("1e300"), Err("bad_value"));
        assert_eq!(price("0e2000000000"), Err("bad_value"));
        assert_eq!(price("null"), Err("missing_field"));
        assert_eq!(
            parse_price(Path::Item(0, "price"), None).map_err(|e| e.reason()),
            Err("missing_field")
        );
    }

    #[test]
    fn items_must_be_an_array_of_objects() {
        let reason = |body: &str| {
            parse_items(body)
                .map(|items| items.len())
                .map_err(|e| e.to_string())
        };
        assert_eq!(reason(r#"{"items": []}"#), Ok(0));
        assert_eq!(
            reason(
                r#"{"items": [{"id": 1, "category_id": 2, "menu_id": 3, "brand_id": 4, "name": "n", "price": 1.5, "qty": 1}]}"#
            ),
            Ok(1)
        );
        assert!(reason(r#"{"items": {"id": 1}}"#)
            .unwrap_err()
            .contains("array of item objects"));
        assert!(reason(r#"{"items": [1]}"#)
            .unwrap_err()
            .contains("`items[0]` must be an object, found a number"));
        assert!(reason(r#"{"customer_lat": 1}"#)
            .unwrap_err()
            .contains("missing or null"));
        let err = reason(r#"{"items": [{"id": 1, "category_id": 2, "menu_id": 3, "brand_id": 4, "name": "n", "price": 1.5, "qty": 1}, {"id": "x"}]}"#)
            .unwrap_err();
        assert!(err.contains("body.items[1].id"), "{err}");
    }
}
