//! Validation of query strings and request bodies, kept apart from the handlers so every
//! rule is unit-tested without a server. Every failure is a 422 naming its field; all
//! failing fields of a body are reported at once, so a form can mark them together.

use std::collections::BTreeMap;

use super::error::{ApiError, FieldErrors};
use super::model::{ListQuery, NewDecision, Status, DECISION_CLASSES, SUGGESTION_CLASSES};

/// Page size when none is given.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size; larger requests get this many rows (and `limit` says so).
pub const MAX_LIMIT: i64 = 500;
/// Longest order id, reason or name accepted, in characters.
pub const MAX_ID_CHARS: usize = 200;
/// Longest decision reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// Raw query parameters, as decoded from the query string.
pub type RawQuery = BTreeMap<String, String>;

fn reject_unknown(raw: &RawQuery, known: &[&str]) -> Result<(), ApiError> {
    let unknown: FieldErrors = raw
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            (
                k.clone(),
                format!("unknown parameter (known: {})", known.join(", ")),
            )
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(unknown))
    }
}

fn boolean(raw: &RawQuery, name: &str) -> Result<bool, ApiError> {
    match raw
        .get(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(_) => Err(ApiError::field(name, "must be true or false")),
    }
}

fn integer(raw: &RawQuery, name: &str, default: i64) -> Result<i64, ApiError> {
    match raw.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            Ok(_) => Err(ApiError::field(name, "must be ≥ 0")),
            Err(_) => Err(ApiError::field(name, "must be a whole number")),
        },
    }
}

/// `GET /api/summary?include_zero=`.
pub fn summary_query(raw: &RawQuery) -> Result<bool, ApiError> {
    reject_unknown(raw, &["include_zero"])?;
    boolean(raw, "include_zero")
}

/// `GET /api/recommendations?limit=&offset=&include_zero=&status=&refund_class=&q=`.
/// `limit` above [`MAX_LIMIT`] is capped rather than refused, so "give me everything"
/// clients still get a page.
pub fn list_query(raw: &RawQuery) -> Result<ListQuery, ApiError> {
    reject_unknown(
        raw,
        &[
            "limit",
            "offset",
            "include_zero",
            "status",
            "refund_class",
            "q",
        ],
    )?;
    let mut errors = FieldErrors::new();
    let mut note = |r: Result<(), ApiError>| {
        if let Err(ApiError::Invalid(f)) = r {
            errors.extend(f);
        }
    };
    let (mut limit, mut offset, mut include_zero) = (DEFAULT_LIMIT, 0, false);
    note(integer(raw, "limit", DEFAULT_LIMIT).map(|v| limit = v.min(MAX_LIMIT)));
    note(integer(raw, "offset", 0).map(|v| offset = v));
    note(boolean(raw, "include_zero").map(|v| include_zero = v));
    let status = match raw.get("status").map(|v| v.trim()) {
        None | Some("" | "all") => None,
        Some("pending") => Some(Status::Pending),
        Some("applied") => Some(Status::Applied),
        Some(_) => {
            note(Err(ApiError::field("status", "must be pending or applied")));
            None
        }
    };
    let refund_class = match raw.get("refund_class").map(|v| v.trim()) {
        None | Some("" | "all") => None,
        Some(c) if SUGGESTION_CLASSES.contains(&c) => Some(c.to_string()),
        Some(_) => {
            note(Err(ApiError::field(
                "refund_class",
                format!("must be one of {}", SUGGESTION_CLASSES.join(", ")),
            )));
            None
        }
    };
    let q = match raw.get("q").map(|v| v.trim()) {
        None | Some("") => None,
        Some(q) if q.chars().count() <= MAX_ID_CHARS => Some(q.to_string()),
        Some(_) => {
            note(Err(ApiError::field(
                "q",
                format!("must be at most {MAX_ID_CHARS} characters"),
            )));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    Ok(ListQuery {
        limit,
        offset,
        include_zero,
        status,
        refund_class,
        q,
    })
}

/// An order id from a path or body: trimmed, non-empty, not too long.
pub fn order_id(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        Err(ApiError::field(field, "must not be empty"))
    } else if v.chars().count() > MAX_ID_CHARS {
        Err(ApiError::field(
            field,
            format!("must be at most {MAX_ID_CHARS} characters"),
        ))
    } else {
        Ok(v.to_string())
    }
}

/// A dollar amount with at most two decimals, in cents.
fn amount_cents(value: Option<&serde_json::Value>) -> Result<i64, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Err("is required".into());
    };
    let Some(dollars) = value.as_f64() else {
        return Err("must be a number".into());
    };
    if !dollars.is_finite() || dollars < 0.0 {
        return Err("must be ≥ 0".into());
    }
    let scaled = dollars * 100.0;
    let cents = scaled.round();
    // 19.99 * 100 is 1998.9999…: accept float noise, refuse real third decimals.
    if (scaled - cents).abs() > 1e-6 {
        return Err("must have at most 2 decimal places".into());
    }
    // The largest NUMERIC(10,2).
    if cents > 9_999_999_999.0 {
        return Err("must be at most 99999999.99".into());
    }
    // In range and integral, so the conversion is exact.
    #[allow(clippy::cast_possible_truncation, clippy::as_conversions)]
    Ok(cents as i64)
}

fn text(
    body: &serde_json::Map<String, serde_json::Value>,
    field: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, String> {
    match body.get(field) {
        None | Some(serde_json::Value::Null) if required => Err("is required".into()),
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() && required {
                Err("must not be empty".into())
            } else if s.chars().count() > max {
                Err(format!("must be at most {max} characters"))
            } else if s.is_empty() {
                Ok(None)
            } else {
                Ok(Some(s.to_string()))
            }
        }
        Some(_) => Err("must be a string".into()),
    }
}

/// A `POST /api/refunds` body: `{order_id, amount_usd ≥ 0, refund_class, reason,
/// decided_by?}`. Unknown fields are ignored. A `none` decision must refund $0.
pub fn new_decision(body: &[u8]) -> Result<NewDecision, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(ApiError::MalformedJson)?;
    let serde_json::Value::Object(body) = value else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    let mut errors = FieldErrors::new();
    let mut take = |field: &str, r: Result<Option<String>, String>| match r {
        Ok(v) => v,
        Err(e) => {
            errors.insert(field.to_string(), e);
            None
        }
    };
    let order = take("order_id", text(&body, "order_id", MAX_ID_CHARS, true));
    let reason = take("reason", text(&body, "reason", MAX_REASON_CHARS, true));
    let decided_by = take("decided_by", text(&body, "decided_by", MAX_ID_CHARS, false));
    let class = take(
        "refund_class",
        text(&body, "refund_class", MAX_ID_CHARS, true).and_then(|c| match c {
            Some(c) if DECISION_CLASSES.contains(&c.as_str()) => Ok(Some(c)),
            _ => Err(format!("must be one of {}", DECISION_CLASSES.join(", "))),
        }),
    );
    let amount = match amount_cents(body.get("amount_usd")) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.insert("amount_usd".into(), e);
            None
        }
    };
    if let (Some("none"), Some(c)) = (class.as_deref(), amount) {
        if c != 0 {
            errors.insert(
                "amount_usd".into(),
                "must be 0 when refund_class is none".into(),
            );
        }
    }
    match (order, amount, class, reason) {
        (Some(order_id), Some(amount_cents), Some(refund_class), Some(reason))
            if errors.is_empty() =>
        {
            Ok(NewDecision {
                order_id,
                amount_cents,
                refund_class,
                reason,
                decided_by,
            })
        }
        _ => Err(ApiError::Invalid(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawQuery {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Invalid(f) => f.into_keys().collect(),
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn list_defaults_and_cap() {
        let q = list_query(&raw(&[])).unwrap();
        assert_eq!((q.limit, q.offset, q.include_zero), (50, 0, false));
        assert_eq!(list_query(&raw(&[("limit", "100000")])).unwrap().limit, 500);
        assert_eq!(list_query(&raw(&[("limit", "0")])).unwrap().limit, 0);
        let q = list_query(&raw(&[
            ("status", "applied"),
            ("refund_class", "error"),
            ("q", "  ab "),
            ("include_zero", "true"),
        ]))
        .unwrap();
        assert_eq!(q.status, Some(Status::Applied));
        assert_eq!(q.refund_class.as_deref(), Some("error"));
        assert_eq!(q.q.as_deref(), Some("ab"));
        assert!(q.include_zero);
    }

    #[test]
    fn list_errors_name_every_field() {
        let e = list_query(&raw(&[
            ("limit", "-1"),
            ("offset", "x"),
            ("status", "done"),
            ("refund_class", "huge"),
            ("include_zero", "maybe"),
        ]))
        .unwrap_err();
        assert_eq!(
            fields(e),
            ["include_zero", "limit", "offset", "refund_class", "status"]
        );
        assert_eq!(
            fields(list_query(&raw(&[("color", "red")])).unwrap_err()),
            ["color"]
        );
        assert_eq!(
            fields(list_query(&raw(&[("q", &"x".repeat(201))])).unwrap_err()),
            ["q"]
        );
    }

    #[test]
    fn decisions() {
        let d = new_decision(
            br#"{"order_id":" o1 ","amount_usd":19.99,"refund_class":"partial","reason":" late ","decided_by":""}"#,
        )
        .unwrap();
        assert_eq!(
            d,
            NewDecision {
                order_id: "o1".into(),
                amount_cents: 1999,
                refund_class: "partial".into(),
                reason: "late".into(),
                decided_by: None,
            }
        );
        assert_eq!(
            new_decision(br#"{"order_id":"o","amount_usd":0,"refund_class":"none","reason":"ok"}"#)
                .unwrap()
                .amount_cents,
            0
        );
        let e =
            new_decision(br#"{"amount_usd":-1,"refund_class":"most","reason":""}"#).unwrap_err();
        assert_eq!(
            fields(e),
            ["amount_usd", "order_id", "reason", "refund_class"]
        );
        let e = new_decision(
            br#"{"order_id":"o","amount_usd":1.005,"refund_class":"full","reason":"r"}"#,
        )
        .unwrap_err();
        assert_eq!(fields(e), ["amount_usd"]);
        let e = new_decision(
            br#"{"order_id":"o","amount_usd":"5","refund_class":"full","reason":"r"}"#,
        )
        .unwrap_err();
        assert_eq!(fields(e), ["amount_usd"]);
        let e =
            new_decision(br#"{"order_id":"o","amount_usd":5,"refund_class":"none","reason":"r"}"#)
                .unwrap_err();
        assert_eq!(fields(e), ["amount_usd"]);
        let e = new_decision(
            br#"{"order_id":5,"amount_usd":5,"refund_class":"full","reason":"r","decided_by":7}"#,
        )
        .unwrap_err();
        assert_eq!(fields(e), ["decided_by", "order_id"]);
        assert_eq!(fields(new_decision(b"[1]").unwrap_err()), ["body"]);
        assert!(matches!(
            new_decision(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(new_decision(
            br#"{"order_id":"o","amount_usd":1e12,"refund_class":"full","reason":"r"}"#
        )
        .is_err());
    }
}
