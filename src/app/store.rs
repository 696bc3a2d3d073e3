//! The SQL behind the API: every statement is parameterized; the only interpolated text is
//! the two schema names, validated as plain identifiers by [`crate::app::AppConfig`] and
//! quoted here.
//!
//! Filtering, counting and paging happen in PostgreSQL. A page joins each recommendation
//! with its latest decision through a `LATERAL … LIMIT 1` on the `order_id` index, so a page
//! costs its size, not the table's.
//!
//! Timestamps leave the database as ISO 8601 text in UTC and money as `float8`, so no
//! date or decimal crate is needed (see [`crate::app::model`]).

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, Row};

use super::model::{
    suggestion, Decision, ListQuery, NewDecision, OrderEvent, OrderEvents, RecommendationItem,
    RecommendationPage, Status, Summary, DECISION_CLASSES,
};
use super::AppConfig;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had (the database is down or every connection is busy).
    #[error("database unavailable")]
    Pool(#[source] deadpool_postgres::PoolError),
    /// A table the query reads does not exist yet.
    #[error("table not ready: {0} (has the pipeline written to PostgreSQL yet?)")]
    MissingTable(String),
    /// The statement failed.
    #[error("query failed")]
    Query(#[source] tokio_postgres::Error),
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Pool(e)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) if *db.code() == SqlState::UNDEFINED_TABLE => {
                StoreError::MissingTable(db.message().to_string())
            }
            _ => StoreError::Query(e),
        }
    }
}

/// What `insert_decision` did.
#[derive(Debug)]
pub enum InsertOutcome {
    /// Stored; the row as returned by the database.
    Stored(Decision),
    /// No recommendation exists for the order.
    UnknownOrder,
    /// The amount exceeds the order's revenue, in cents.
    AboveRevenue {
        /// The order's revenue, in cents.
        revenue_cents: i64,
    },
}

/// Formats a timestamptz column as ISO 8601 UTC text with milliseconds.
fn iso(col: &str) -> String {
    format!(r#"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#)
}

/// The statements, built once with the configured schema names.
#[derive(Debug)]
pub struct Store {
    pool: Pool,
    ddl: String,
    summary_recs: String,
    summary_classes: String,
    summary_decisions: String,
    list_count: String,
    list_page: String,
    lookup_rec: String,
    insert: String,
    events: String,
    order_known: String,
}

impl Store {
    /// Prepares the statements for the schemas in `config`.
    pub fn new(pool: Pool, config: &AppConfig) -> Self {
        // Identifiers were validated (letters, digits, `_`), so quoting cannot be escaped.
        let refunds = format!("\"{}\"", config.refunds_schema);
        let recs_schema = format!("\"{}\"", config.recs_schema);
        let dec = format!("{refunds}.refund_decisions");
        let recs = format!("{recs_schema}.pg_recommendations");
        let events = format!("{recs_schema}.order_events");
        let classes = DECISION_CLASSES
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(",");
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {refunds};
             CREATE TABLE IF NOT EXISTS {dec} (
                 id BIGSERIAL PRIMARY KEY,
                 order_id TEXT NOT NULL,
                 decided_ts TIMESTAMPTZ NOT NULL DEFAULT NOW(),
                 amount_usd NUMERIC(10,2) NOT NULL CHECK (amount_usd >= 0),
                 refund_class TEXT NOT NULL CHECK (refund_class IN ({classes})),
                 reason TEXT NOT NULL,
                 decided_by TEXT,
                 source_suggestion JSONB
             );
             CREATE INDEX IF NOT EXISTS idx_refund_decisions_order_id ON {dec}(order_id);"
        );
        // `$1` is include_zero everywhere it appears.
        let counted = "($1::bool OR r.refund_usd <> 0)";
        let summary_recs = format!(
            "SELECT count(*),
                    count(*) FILTER (WHERE {counted}),
                    COALESCE(sum(r.refund_usd) FILTER (WHERE {counted} AND r.refund_class <> 'error'), 0)::float8,
                    count(*) FILTER (WHERE {counted}
                        AND NOT EXISTS (SELECT 1 FROM {dec} d WHERE d.order_id = r.order_id))
             FROM {recs} r"
        );
        let summary_classes = format!(
            "SELECT r.refund_class, count(*) FROM {recs} r WHERE {counted} GROUP BY r.refund_class"
        );
        // The latest decision per order is the one in force; ROLLUP adds the exact total
        // (class NULL) so no float sums happen outside the database.
        let summary_decisions = format!(
            "WITH latest AS (
                 SELECT DISTINCT ON (order_id) refund_class, amount_usd
                 FROM {dec} ORDER BY order_id, decided_ts DESC, id DESC)
             SELECT refund_class, count(*), COALESCE(sum(amount_usd), 0)::float8
             FROM latest GROUP BY ROLLUP (refund_class)"
        );
        let filters = format!(
            "WHERE {counted}
               AND ($2::text IS NULL OR r.refund_class = $2::text)
               AND ($3::text IS NULL OR starts_with(r.order_id, $3::text))
               AND ($4::text IS NULL OR ($4::text = 'applied') =
                    EXISTS (SELECT 1 FROM {dec} d WHERE d.order_id = r.order_id))"
        );
        let list_count = format!("SELECT count(*) FROM {recs} r {filters}");
        let list_page = format!(
            "SELECT r.order_id, {ts}, {order_ts}, r.order_revenue::float8, r.refund_class,
                    r.refund_usd::float8, r.agent_response,
                    d.id, {decided_ts}, d.amount_usd::float8, d.refund_class, d.reason, d.decided_by
             FROM {recs} r
             LEFT JOIN LATERAL (
                 SELECT * FROM {dec} d WHERE d.order_id = r.order_id
                 ORDER BY d.decided_ts DESC, d.id DESC LIMIT 1) d ON true
             {filters}
             ORDER BY r.order_ts DESC NULLS LAST, r.order_id DESC
             LIMIT $5 OFFSET $6",
            ts = iso("r.ts"),
            order_ts = iso("r.order_ts"),
            decided_ts = iso("d.decided_ts"),
        );
        let lookup_rec = format!(
            "SELECT r.refund_class, r.refund_usd::float8, r.agent_response,
                    (r.order_revenue * 100)::int8, r.order_revenue::float8, {ts}, {order_ts}
             FROM {recs} r WHERE r.order_id = $1",
            ts = iso("r.ts"),
            order_ts = iso("r.order_ts"),
        );
        // Cents in, exact NUMERIC out: 1234 / 100 = 12.34 with no float in between.
        let insert = format!(
            "INSERT INTO {dec} AS d (order_id, amount_usd, refund_class, reason, decided_by, source_suggestion)
             VALUES ($1, $2::int8::numeric / 100, $3, $4, $5, $6::text::jsonb)
             RETURNING d.id, d.order_id, {decided_ts}, d.amount_usd::float8, d.refund_class, d.reason, d.decided_by",
            decided_ts = iso("d.decided_ts"),
        );
        let events_sql = format!(
            "SELECT e.event_id, e.event_type, {ts}, e.gk_id, e.location, e.sequence, e.body::text
             FROM {events} e
             WHERE e.order_id = $1 AND e.event_type <> 'driver_ping'
             ORDER BY e.sequence, e.ts, e.event_type",
            ts = iso("e.ts"),
        );
        let order_known = format!(
            "SELECT EXISTS (SELECT 1 FROM {recs} WHERE order_id = $1)
                 OR EXISTS (SELECT 1 FROM {events} WHERE order_id = $1)"
        );
        Store {
            pool,
            ddl,
            summary_recs,
            summary_classes,
            summary_decisions,
            list_count,
            list_page,
            lookup_rec,
            insert,
            events: events_sql,
            order_known,
        }
    }

    /// Creates the decisions schema, table and index when missing (the reference DDL).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.batch_execute(&self.ddl).await?;
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// The summary cards' numbers, from one consistent snapshot.
    pub async fn summary(&self, include_zero: bool) -> Result<Summary, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let recs = tx
            .query_one(
                &tx.prepare_cached(&self.summary_recs).await?,
                &[&include_zero],
            )
            .await?;
        let mut suggestions_by_class = zero_classes();
        for row in tx
            .query(
                &tx.prepare_cached(&self.summary_classes).await?,
                &[&include_zero],
            )
            .await?
        {
            suggestions_by_class.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let mut decisions_by_class = zero_classes();
        let (mut decisions_count, mut decided_total_usd) = (0, 0.0);
        for row in tx
            .query(&tx.prepare_cached(&self.summary_decisions).await?, &[])
            .await?
        {
            match row.try_get::<_, Option<String>>(0)? {
                Some(class) => {
                    decisions_by_class.insert(class, row.try_get(1)?);
                }
                None => {
                    decisions_count = row.try_get(1)?;
                    decided_total_usd = row.try_get(2)?;
                }
            }
        }
        tx.commit().await?;
        Ok(Summary {
            total_recommendations: recs.try_get(0)?,
            recommendations_count: recs.try_get(1)?,
            suggestions_by_class,
            suggested_total_usd: recs.try_get(2)?,
            decisions_count,
            decisions_by_class,
            decided_total_usd,
            pending_count: recs.try_get(3)?,
        })
    }

    /// One page of recommendations and the total matching the filters, from one snapshot.
    pub async fn recommendations(&self, q: &ListQuery) -> Result<RecommendationPage, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let status = q.status.map(Status::as_str);
        let total: i64 = tx
            .query_one(
                &tx.prepare_cached(&self.list_count).await?,
                &[&q.include_zero, &q.refund_class, &q.q, &status],
            )
            .await?
            .try_get(0)?;
        let rows = if q.limit == 0 || q.offset >= total {
            Vec::new()
        } else {
            tx.query(
                &tx.prepare_cached(&self.list_page).await?,
                &[
                    &q.include_zero,
                    &q.refund_class,
                    &q.q,
                    &status,
                    &q.limit,
                    &q.offset,
                ],
            )
            .await?
        };
        tx.commit().await?;
        let items = rows
            .iter()
            .map(recommendation_item)
            .collect::<Result<Vec<_>, _>>()?;
        let shown = i64::try_from(items.len()).unwrap_or(i64::MAX);
        Ok(RecommendationPage {
            has_more: q.offset.saturating_add(shown) < total,
            items,
            limit: q.limit,
            offset: q.offset,
            total,
        })
    }

    /// Stores a decision for an order that has a recommendation, with that recommendation
    /// as `source_suggestion`.
    pub async fn insert_decision(&self, d: &NewDecision) -> Result<InsertOutcome, StoreError> {
        let client = self.pool.get().await?;
        let Some(rec) = client
            .query_opt(
                &client.prepare_cached(&self.lookup_rec).await?,
                &[&d.order_id],
            )
            .await?
        else {
            return Ok(InsertOutcome::UnknownOrder);
        };
        let revenue_cents: Option<i64> = rec.try_get(3)?;
        if let Some(revenue_cents) = revenue_cents {
            if d.amount_cents > revenue_cents {
                return Ok(InsertOutcome::AboveRevenue { revenue_cents });
            }
        }
        let agent_response: String = rec.try_get(2)?;
        let sugg = suggestion(rec.try_get(0)?, rec.try_get(1)?, &agent_response);
        let source = serde_json::json!({
            "order_id": d.order_id,
            "ts": rec.try_get::<_, String>(5)?,
            "order_ts": rec.try_get::<_, Option<String>>(6)?,
            "order_revenue": rec.try_get::<_, Option<f64>>(4)?,
            "refund_class": sugg.refund_class,
            "refund_usd": sugg.refund_usd,
            "reason": sugg.reason,
            "delivery_minutes": sugg.delivery_minutes,
            "p75": sugg.p75,
            "p99": sugg.p99,
            "agent_response": agent_response,
        })
        .to_string();
        let row = client
            .query_one(
                &client.prepare_cached(&self.insert).await?,
                &[
                    &d.order_id,
                    &d.amount_cents,
                    &d.refund_class,
                    &d.reason,
                    &d.decided_by,
                    &source,
                ],
            )
            .await?;
        Ok(InsertOutcome::Stored(decision(&row, 0)?))
    }

    /// The order's events except driver pings, or `None` when the order is unknown (no
    /// recommendation and no events).
    pub async fn order_events(&self, order_id: &str) -> Result<Option<OrderEvents>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(&client.prepare_cached(&self.events).await?, &[&order_id])
            .await?;
        if rows.is_empty() {
            let known: bool = client
                .query_one(
                    &client.prepare_cached(&self.order_known).await?,
                    &[&order_id],
                )
                .await?
                .try_get(0)?;
            if !known {
                return Ok(None);
            }
        }
        let events = rows
            .iter()
            .map(|row| {
                let body: Option<String> = row.try_get(6)?;
                Ok(OrderEvent {
                    event_id: row.try_get(0)?,
                    event_type: row.try_get(1)?,
                    ts: row.try_get(2)?,
                    gk_id: row.try_get(3)?,
                    location: row.try_get(4)?,
                    sequence: row.try_get(5)?,
                    body: body.as_deref().map(parse_body).unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
        Ok(Some(OrderEvents {
            order_id: order_id.to_string(),
            events,
        }))
    }
}

/// `none`, `partial`, `full` at zero, so the page always has every class.
fn zero_classes() -> std::collections::BTreeMap<String, i64> {
    DECISION_CLASSES
        .iter()
        .map(|c| (c.to_string(), 0))
        .collect()
}

/// A JSONB body; a body stored as a JSON string holding a JSON document (the bronze
/// encoding) is unwrapped so clients always get the document.
fn parse_body(text: &str) -> serde_json::Value {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    if let serde_json::Value::String(inner) = &value {
        if let Ok(doc @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) =
            serde_json::from_str(inner)
        {
            return doc;
        }
    }
    value
}

fn recommendation_item(row: &Row) -> Result<RecommendationItem, tokio_postgres::Error> {
    let agent_response: String = row.try_get(6)?;
    let decision = match row.try_get::<_, Option<i64>>(7)? {
        Some(_) => Some(Decision {
            id: row.try_get(7)?,
            order_id: row.try_get(0)?,
            decided_ts: row.try_get(8)?,
            amount_usd: row.try_get(9)?,
            refund_class: row.try_get(10)?,
            reason: row.try_get(11)?,
            decided_by: row.try_get(12)?,
        }),
        None => None,
    };
    Ok(RecommendationItem {
        order_id: row.try_get(0)?,
        ts: row.try_get(1)?,
        order_ts: row.try_get(2)?,
        order_revenue: row.try_get(3)?,
        suggestion: suggestion(row.try_get(4)?, row.try_get(5)?, &agent_response),
        status: if decision.is_some() {
            Status::Applied
        } else {
            Status::Pending
        },
        decision,
    })
}

/// A decision from `RETURNING`/select columns starting at `at`.
fn decision(row: &Row, at: usize) -> Result<Decision, tokio_postgres::Error> {
    Ok(Decision {
        id: row.try_get(at)?,
        order_id: row.try_get(at + 1)?,
        decided_ts: row.try_get(at + 2)?,
        amount_usd: row.try_get(at + 3)?,
        refund_class: row.try_get(at + 4)?,
        reason: row.try_get(at + 5)?,
        decided_by: row.try_get(at + 6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_body;

    #[test]
    fn bodies_are_documents() {
        assert_eq!(parse_body(r#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(parse_body(r#""{\"a\":1}""#), serde_json::json!({"a": 1}));
        assert_eq!(parse_body(r#""plain""#), serde_json::json!("plain"));
        assert_eq!(parse_body("null"), serde_json::Value::Null);
    }
}
