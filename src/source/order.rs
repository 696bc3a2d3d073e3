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
#[derive(Default, Deserialize)]
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
    #[serde(borrow, default, deserialize_with = "super::record::raw_text")]
    price: Option<&'a str>,
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
    match scan_items(body) {
        Some(items) => build_items(items.into_iter().map(Slot::Item)),
        None => parse_items_serde(body),
    }
}

/// [`parse_items`] through serde alone: for every body [`scan_items`] declines, and the
/// reference the tests hold the scanner to.
fn parse_items_serde(body: &str) -> Result<Vec<Item>, ReadError> {
    let order: OrderBody<'_> = serde_json::from_str(body).map_err(|e| ReadError::BadBody {
        problem: format!("not a valid order_created body: {e}"),
    })?;
    let slots = order.items.ok_or_else(|| ReadError::BadBody {
        problem: "`items` is missing or null".to_owned(),
    })?;
    build_items(slots.0.into_iter())
}

/// The items of a body in the shape the generator writes, read without serde (whose derived
/// visitors cost ~10% of a replay without bronze, for one event in fourteen): an object
/// whose `items` is an array of objects holding exactly the seven item keys once each, ids
/// and `qty` as plain non-negative integers, `name` a string, `price` a number; other
/// top-level keys are only checked to be JSON. On anything else (`null`, an escape outside a
/// name, a repeated or unknown item key, another type) it returns `None` and serde reads the
/// body, so for every body it accepts the items are the ones serde would give (the tests
/// check that against serde itself).
fn scan_items(body: &str) -> Option<Vec<RawItem<'_>>> {
    use super::record::fast::{colon, number, plain_string, skip_ws, small_integer, string, value};
    use super::record::unescape_into;
    let b = body.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut items = None;
    // Like serde, an empty object is read (it lacks `items`): leave its error to serde.
    loop {
        let (key, after) = plain_string(body, i)?;
        i = colon(b, after)?;
        if key == "items" {
            if items.is_some() {
                return None;
            }
            let (found, end) = scan_item_array(body, i)?;
            items = Some(found);
            i = end;
        } else {
            i = value(b, i, 1)?;
        }
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    if skip_ws(b, i + 1) != b.len() {
        return None;
    }
    return items;

    /// The array of item objects at `body[i]`, and the index after it.
    fn scan_item_array(body: &str, i: usize) -> Option<(Vec<RawItem<'_>>, usize)> {
        let b = body.as_bytes();
        if b.get(i) != Some(&b'[') {
            return None;
        }
        let mut items = Vec::with_capacity(4);
        let mut i = skip_ws(b, i + 1);
        if b.get(i) == Some(&b']') {
            return Some((items, i + 1));
        }
        loop {
            let (item, end) = scan_item(body, i)?;
            items.push(item);
            i = skip_ws(b, end);
            match b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b']' => return Some((items, i + 1)),
                _ => return None,
            }
        }
    }

    /// The seven item keys.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum ItemKey {
        Id,
        CategoryId,
        MenuId,
        BrandId,
        Name,
        Price,
        Qty,
    }

    impl ItemKey {
        const ALL: [ItemKey; 7] = [
            ItemKey::Id,
            ItemKey::CategoryId,
            ItemKey::MenuId,
            ItemKey::BrandId,
            ItemKey::Name,
            ItemKey::Price,
            ItemKey::Qty,
        ];

        fn name(self) -> &'static str {
            match self {
                ItemKey::Id => "id",
                ItemKey::CategoryId => "category_id",
                ItemKey::MenuId => "menu_id",
                ItemKey::BrandId => "brand_id",
                ItemKey::Name => "name",
                ItemKey::Price => "price",
                ItemKey::Qty => "qty",
            }
        }
    }

    /// An item key at `body[i] == '"'`, and the index after its closing quote: the generator's
    /// keys compared whole as constants (a `memcmp` call per key before, seven an item), any
    /// other spelling through [`plain_string`]; `None` for a key that is none of the seven.
    fn item_key(body: &str, i: usize) -> Option<(ItemKey, usize)> {
        let rest = body.as_bytes().get(i..)?;
        let is = |pattern: &[u8]| rest.starts_with(pattern);
        let key = match rest.get(1)? {
            b'i' if is(b"\"id\"") => ItemKey::Id,
            b'c' if is(b"\"category_id\"") => ItemKey::CategoryId,
            b'm' if is(b"\"menu_id\"") => ItemKey::MenuId,
            b'b' if is(b"\"brand_id\"") => ItemKey::BrandId,
            b'n' if is(b"\"name\"") => ItemKey::Name,
            b'p' if is(b"\"price\"") => ItemKey::Price,
            b'q' if is(b"\"qty\"") => ItemKey::Qty,
            _ => {
                let (name, end) = plain_string(body, i)?;
                let key = ItemKey::ALL.into_iter().find(|key| key.name() == name)?;
                return Some((key, end));
            }
        };
        Some((key, i + key.name().len() + 2))
    }

    /// One item object at `body[i]` with all seven keys, and the index after it.
    fn scan_item(body: &str, i: usize) -> Option<(RawItem<'_>, usize)> {
        let b = body.as_bytes();
        if b.get(i) != Some(&b'{') {
            return None;
        }
        let mut item = RawItem::default();
        let mut i = skip_ws(b, i + 1);
        loop {
            let (key, after) = item_key(body, i)?;
            i = colon(b, after)?;
            let int_slot = match key {
                ItemKey::Id => Some(&mut item.id),
                ItemKey::CategoryId => Some(&mut item.category_id),
                ItemKey::MenuId => Some(&mut item.menu_id),
                ItemKey::BrandId => Some(&mut item.brand_id),
                ItemKey::Qty => Some(&mut item.qty),
                ItemKey::Name | ItemKey::Price => None,
            };
            if let Some(slot) = int_slot {
                let (n, end) = small_integer(b, i)?;
                if slot.replace(Field::Int(n)).is_some() {
                    return None;
                }
                i = end;
            } else if key == ItemKey::Name {
                // Names with escapes (`Cr\u00eape`) are common enough to keep off serde.
                let (name, end) = match plain_string(body, i) {
                    Some((name, end)) => (Cow::Borrowed(name), end),
                    None => {
                        let end = string(b, i)?;
                        let mut name = String::new();
                        unescape_into(body.get(i..end)?, &mut name)?;
                        (Cow::Owned(name), end)
                    }
                };
                if item.name.replace(Field::Str(name)).is_some() {
                    return None;
                }
                i = end;
            } else {
                if !matches!(b.get(i)?, b'-' | b'0'..=b'9') {
                    return None;
                }
                let end = number(b, i)?;
                if item.price.replace(body.get(i..end)?).is_some() {
                    return None;
                }
                i = end;
            }
            i = skip_ws(b, i);
            match b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => break,
                _ => return None,
            }
        }
        let complete = item.id.is_some()
            && item.category_id.is_some()
            && item.menu_id.is_some()
            && item.brand_id.is_some()
            && item.name.is_some()
            && item.price.is_some()
            && item.qty.is_some();
        complete.then_some((item, i + 1))
    }
}

/// Checks each slot and builds its item; the first bad slot is the error.
fn build_items<'a>(slots: impl ExactSizeIterator<Item = Slot<'a>>) -> Result<Vec<Item>, ReadError> {
    let mut out = Vec::with_capacity(slots.len());
    for (i, slot) in slots.enumerate() {
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
        // The generator's ids: an integer in range, taken without the general checks.
        if let Some(Field::Int(n)) = value {
            if let Ok(n) = i32::try_from(n) {
                return Ok(n);
            }
        }
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
fn parse_price(field: Path<'_>, raw: Option<&str>) -> Result<Money, ReadError> {
    let text = raw.ok_or_else(|| missing(field))?;
    // The generator's prices: plain decimals without sign or exponent, read in one pass
    // before the general path's exponent search and error set-up (~280 instructions a price).
    if text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Some(price) = Money::parse_plain(text.as_bytes()) {
            return Ok(price);
        }
    }
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
        parse_price(Path::Item(0, "price"), Some(text)).map_err(|e| e.reason())
    }

    use proptest::prelude::*;

    /// A value an item key may hold: the generator's forms and the deviations the scanner
    /// must leave to serde (or read exactly as serde does).
    fn item_value() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "113",
            "0",
            "7",
            "2",
            "-3",
            "01",
            "1.0",
            "2e1",
            "1234567890123456789",
            "4294967296",
            "11.95",
            "0.5",
            "-1.5",
            "1e300",
            "12.9500",
            r#""9.47""#,
            r#""abc""#,
            "null",
            "true",
            "[]",
            "{}",
            r#""Classic Buffalo Wings""#,
            r#""Caff\u00e8""#,
            r#""a\"b""#,
            r#""\ud800""#,
            "\"é\"",
            r#""""#,
        ])
        .prop_map(str::to_owned)
    }

    fn item_key() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "id",
            "category_id",
            "menu_id",
            "brand_id",
            "name",
            "price",
            "qty",
            "extra",
            r"n\u0061me",
            // A known key's prefixes and extensions: never taken for it.
            "ids",
            "i",
            "qt",
            "pricey",
            "brand_idx",
            "menu_i",
            "",
        ])
        .prop_map(|k| format!("\"{k}\""))
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", " ", "\n ", "\t"])
    }

    /// A good item's fields, then up to two edits: a changed value, an added, removed,
    /// renamed or repeated key.
    fn item() -> impl Strategy<Value = Vec<(String, String)>> {
        let good = (1u32..200, 1u32..5, prop::bool::ANY).prop_map(|(id, qty, cents)| {
            let price = if cents { "11.95" } else { "3" };
            [
                ("id", id.to_string()),
                ("category_id", "40".to_owned()),
                ("menu_id", "13".to_owned()),
                ("brand_id", "13".to_owned()),
                ("name", r#""Korean Gochujang Wings""#.to_owned()),
                ("price", price.to_owned()),
                ("qty", qty.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (format!("\"{k}\""), v))
            .collect::<Vec<_>>()
        });
        let edit = (0usize..8, 0u8..6, item_key(), item_value());
        (good, proptest::collection::vec(edit, 0..3)).prop_flat_map(|(mut fields, edits)| {
            for (at, kind, key, value) in edits {
                let at = at % fields.len().max(1);
                match kind {
                    0 | 1 if !fields.is_empty() => fields[at].1 = value,
                    2 => fields.push((key, value)),
                    3 if !fields.is_empty() => {
                        fields.remove(at);
                    }
                    4 if !fields.is_empty() => fields[at].0 = key,
                    _ if !fields.is_empty() => {
                        let copy = fields[at].clone();
                        fields.push(copy);
                    }
                    _ => {}
                }
            }
            Just(fields).prop_shuffle()
        })
    }

    fn object(fields: Vec<(String, String)>, w: &str) -> String {
        let parts: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("{w}{k}{w}:{w}{v}{w}"))
            .collect();
        format!("{{{}}}", parts.join(","))
    }

    /// An `order_created` body: customer fields and items, now and then odd.
    fn body() -> impl Strategy<Value = String> {
        let items = prop_oneof![
            8 => (proptest::collection::vec((item(), ws()), 0..4), ws()).prop_map(|(items, w)| {
                let parts: Vec<String> = items.into_iter().map(|(f, w)| object(f, w)).collect();
                format!("[{w}{}{w}]", parts.join(","))
            }),
            1 => prop::sample::select(vec!["null", "{}", "[1]", "[[]]", "\"x\"", "[{}]", "[{},]"])
                .prop_map(str::to_owned),
        ];
        let extra = prop::sample::select(vec![
            r#""customer_lat""#,
            r#""customer_addr""#,
            r#""items""#,
            r#""x""#,
        ]);
        let extra_value = prop::sample::select(vec![
            "37.79497656916996",
            r#""6382 22nd Ave""#,
            "null",
            "[1, {\"a\": [2]}]",
            "01",
            "[1,]",
        ]);
        (
            items,
            proptest::collection::vec((extra, extra_value), 0..3),
            prop::bool::ANY,
            ws(),
            prop::sample::select(vec!["", "", " \n", "x", ","]),
        )
            .prop_map(|(items, extras, with_items, w, tail)| {
                let mut fields: Vec<(String, String)> = extras
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                if with_items {
                    fields.insert(fields.len() / 2, ("\"items\"".to_owned(), items));
                }
                format!("{}{tail}", object(fields, w))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Whatever the body, the scanner's items (or error) are serde's.
        #[test]
        fn items_decode_exactly_as_serde(body in body()) {
            let fast = format!("{:?}", parse_items(&body));
            let serde = format!("{:?}", parse_items_serde(&body));
            prop_assert_eq!(fast, serde, "{}", body);
        }
    }

    #[test]
    fn the_generators_bodies_take_the_scanner() {
        let body = r#"{"customer_lat": 37.79497656916996, "customer_lon": -122.45595415632759, "customer_addr": "6382 22nd Ave", "items": [{"id": 113, "category_id": 40, "menu_id": 13, "brand_id": 13, "name": "Classic Buffalo Wings", "price": 11.95, "qty": 1}, {"id": 121, "category_id": 43, "menu_id": 13, "brand_id": 13, "name": "Sweet Tea", "price": 2.75, "qty": 2}]}"#;
        let items = scan_items(body).expect("the scanner declined the generator's body");
        assert_eq!(items.len(), 2);
        let built = build_items(items.into_iter().map(Slot::Item)).unwrap();
        assert_eq!(built, parse_items_serde(body).unwrap());
        assert_eq!(built[1].price, Money(2_750_000));
        assert_eq!(built[1].qty, 2);
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
