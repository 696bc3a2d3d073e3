//! The Postgres sink: `recommender.pg_recommendations` and `recommender.order_events`, upserted
//! by key, one transaction per publish together with the worker's progress row.
//!
//! Each worker owns the keys routed to it (a stable hash of the order id) and writes them on
//! its own connection, so no two workers ever touch one row. A publish consolidates every
//! update at times before the frontier into the final state per key: the last value is
//! upserted, a key whose rows all disappeared is deleted. Upserts only rewrite a row whose
//! content changed (`IS DISTINCT FROM`), so `ts` stays the processing time of the epoch that
//! last changed it and replaying the same input changes nothing.
//!
//! Failures: a connection error is retried with exponential backoff (the worker blocks, which
//! is backpressure on its whole dataflow) until `retry_for` has passed; then the job stops
//! with the error, and a restart replays. Nothing is dropped either way: the pending changes
//! stay in memory until a transaction commits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use tokio_postgres::{Client, NoTls};

use caspers_dataflows::hash::stable_hash;

use crate::sink::frontier::FrontierBuffer;
use caspers_dataflows::model::Event;
use caspers_dataflows::refunds::RefundRecommendation;

/// The tables the pipeline fills and the app reads, created if missing (the reference DDL for
/// `refund_decisions`).
pub const SCHEMA_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS recommender;
CREATE TABLE IF NOT EXISTS recommender.pg_recommendations (
  order_id TEXT PRIMARY KEY,
  ts TIMESTAMPTZ NOT NULL,
  order_ts TIMESTAMPTZ,
  agent_response TEXT NOT NULL,
  refund_class TEXT NOT NULL,
  refund_usd NUMERIC(10,2) NOT NULL,
  order_revenue NUMERIC(12,2)
);
CREATE TABLE IF NOT EXISTS recommender.order_events (
  event_id TEXT, event_type TEXT NOT NULL, ts TIMESTAMPTZ NOT NULL, gk_id TEXT, location TEXT,
  order_id TEXT NOT NULL, sequence BIGINT NOT NULL, body JSONB,
  PRIMARY KEY (order_id, event_type, sequence)
);
CREATE TABLE IF NOT EXISTS recommender.sink_progress (
  sink TEXT NOT NULL, worker INT NOT NULL, epoch BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (sink, worker)
);
CREATE SCHEMA IF NOT EXISTS refunds;
CREATE TABLE IF NOT EXISTS refunds.refund_decisions (
    id BIGSERIAL PRIMARY KEY,
    order_id TEXT NOT NULL,
    decided_ts TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    amount_usd NUMERIC(10,2) NOT NULL CHECK (amount_usd >= 0),
    refund_class TEXT NOT NULL CHECK (refund_class IN ('none','partial','full')),
    reason TEXT NOT NULL,
    decided_by TEXT,
    source_suggestion JSONB
);
CREATE INDEX IF NOT EXISTS idx_refund_decisions_order_id ON refunds.refund_decisions(order_id);
";

/// Errors of the Postgres sink.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// Connecting failed (wrong URL, password, host down).
    #[error("connecting to Postgres at {url}: {source}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement failed.
    #[error("postgres: {0}")]
    Sql(#[from] tokio_postgres::Error),
    /// Retries ran out.
    #[error("postgres unavailable for {seconds} s, giving up (a restart replays): {last}")]
    GaveUp {
        /// How long we tried.
        seconds: u64,
        /// The last error.
        last: String,
    },
    /// The runtime could not start.
    #[error("starting the Postgres client runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, PgError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

async fn connect(url: &str) -> Result<Client, PgError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|source| PgError::Connect {
            url: redact(url),
            source,
        })?;
    tokio::spawn(async move {
        // Errors surface on the client's next statement, which is where we handle them.
        let _ = connection.await;
    });
    Ok(client)
}

/// Connects once and creates the tables if missing; a clear error for a wrong URL or password.
/// Serialised by an advisory lock, so several processes starting together do not race.
pub fn prepare(url: &str) -> Result<(), PgError> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut client = connect(url).await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(727274)", &[])
            .await?;
        tx.batch_execute(SCHEMA_SQL).await?;
        tx.commit().await?;
        Ok(())
    })
}

/// A row of one of the sink's tables.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum PgRow {
    /// `pg_recommendations`.
    Recommendation(RefundRecommendation),
    /// `order_events` (non-ping events, de-duplicated).
    OrderEvent(Event),
}

impl PgRow {
    fn order_id(&self) -> &str {
        match self {
            PgRow::Recommendation(r) => &r.order_id,
            PgRow::OrderEvent(e) => &e.order_id,
        }
    }

    /// The day the row belongs to, for `--retain-days`.
    fn day(&self) -> caspers_dataflows::time::Day {
        match self {
            PgRow::Recommendation(r) => caspers_dataflows::time::day_of(r.order_ts),
            PgRow::OrderEvent(e) => caspers_dataflows::time::day_of(e.ts),
        }
    }

    fn key(&self) -> PgKey {
        match self {
            PgRow::Recommendation(r) => PgKey::Recommendation(r.order_id.clone()),
            PgRow::OrderEvent(e) => PgKey::OrderEvent(
                e.order_id.clone(),
                e.event_type.as_str().to_string(),
                e.sequence,
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PgKey {
    Recommendation(String),
    OrderEvent(String, String, i64),
}

/// Options of the sink.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connection URL.
    pub url: String,
    /// Publish at most this often (follow mode); `None` publishes only at the end (replay).
    pub interval: Option<Duration>,
    /// Give up after failing this long.
    pub retry_for: Duration,
    /// An LLM that writes `agent_response` instead of the policy (off the dataflow's thread).
    pub agent: Option<crate::refund::llm::LlmAgent>,
    /// `--retain-days`: changes to retired rows are not written (Postgres keeps them).
    pub retention: Option<crate::runtime::retention::Retention>,
}

/// What the worker's Postgres writer reports to the runtime loop.
#[derive(Debug, Default)]
pub struct PgStatus {
    /// Rows upserted or deleted so far.
    pub rows_written: u64,
    /// Transactions committed.
    pub commits: u64,
    /// The error that stopped the writer.
    pub error: Option<String>,
}

/// Batches handed from the sink operator to its writer thread before the operator blocks: the
/// dataflow keeps running through a short outage, then backpressure stops it.
pub const MAX_QUEUED_BATCHES: usize = 8;

/// The writer thread of one worker's sink; [`PgWriter::finish`] waits for it to drain.
pub struct PgWriter {
    status: std::sync::Arc<std::sync::Mutex<PgStatus>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PgWriter {
    /// The writer's error, if it stopped.
    pub fn error(&self) -> Option<String> {
        self.status.lock().ok().and_then(|s| s.error.clone())
    }

    /// Waits until every queued batch is committed (the sink operator must be gone, which it is
    /// once the dataflow completed) and returns the final status.
    pub fn finish(mut self) -> PgStatus {
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                return PgStatus {
                    error: Some("the Postgres writer panicked".into()),
                    ..PgStatus::default()
                };
            }
        }
        match self.status.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(_) => PgStatus {
                error: Some("the Postgres writer panicked".into()),
                ..PgStatus::default()
            },
        }
    }
}

/// Attaches the sink to `rows`. The operator consolidates changes at the frontier and queues
/// one batch per publish; a writer thread with its own connection commits them in order, so
/// a slow or unreachable database (or a slow LLM agent) never stalls the views until the
/// queue is full.
pub fn pg_sink<'s>(rows: VecCollection<'s, u64, PgRow>, options: PgOptions) -> PgWriter {
    let worker = rows.inner.scope().index();
    let status = std::sync::Arc::new(std::sync::Mutex::new(PgStatus::default()));
    let (send, recv) = crossbeam_channel::bounded::<(u64, Batch)>(MAX_QUEUED_BATCHES);
    let thread = {
        let status = status.clone();
        let options = options.clone();
        std::thread::Builder::new()
            .name(format!("caspers-pg-{worker}"))
            .spawn(move || writer_loop(worker, &options, &recv, &status))
            .ok()
    };
    if thread.is_none() {
        if let Ok(mut s) = status.lock() {
            s.error = Some("could not start the Postgres writer thread".into());
        }
    }
    let mut send = Some(send);
    let mut pending: FrontierBuffer<PgRow> = FrontierBuffer::default();
    // Net changes at complete times not yet queued: key -> (row, count) accumulations. A key
    // has one or two rows, so a `Vec`: a `BTreeMap` per key allocated a whole B-tree node
    // (11 rows, ~2.7 KB) for each, ~0.3 GB for the 126 K rows of 30 days.
    let mut staged: BTreeMap<PgKey, Vec<(PgRow, i64)>> = BTreeMap::new();
    let mut last_publish = Instant::now();
    let writer_status = status.clone();
    let pact =
        Exchange::new(|(row, _t, _d): &(PgRow, u64, isize)| stable_hash(row.order_id().as_bytes()));
    rows.inner
        .sink(pact, "postgres sink", move |(input, frontier)| {
            input.for_each(|_cap, data| {
                for (row, time, diff) in data.drain(..) {
                    pending.absorb(row, time, diff);
                }
            });
            for (time, updates) in pending.complete(frontier) {
                for (row, diff) in updates {
                    if options.retention.is_some_and(|r| r.frozen(row.day(), time)) {
                        continue;
                    }
                    let diff = i64::try_from(diff).unwrap_or(0);
                    let rows = staged.entry(row.key()).or_default();
                    match rows.iter_mut().find(|(staged, _)| *staged == row) {
                        Some((_, count)) => *count += diff,
                        None => rows.push((row, diff)),
                    }
                }
            }
            let due = frontier.is_empty()
                || options
                    .interval
                    .is_some_and(|i| last_publish.elapsed() >= i);
            if due && !staged.is_empty() {
                let epoch = frontier.frontier().first().copied().unwrap_or(u64::MAX);
                let batch = Batch::from_staged(std::mem::take(&mut staged));
                last_publish = Instant::now();
                if let Some(sender) = &send {
                    // Blocks only when the writer is MAX_QUEUED_BATCHES behind: backpressure.
                    if sender.send((epoch, batch)).is_err() {
                        if let Ok(mut s) = writer_status.lock() {
                            s.error
                                .get_or_insert_with(|| "the Postgres writer stopped".into());
                        }
                    }
                }
            }
            if frontier.is_empty() {
                // Closing the channel lets the writer finish once it has drained the queue.
                send = None;
            }
        });
    PgWriter { status, thread }
}

fn writer_loop(
    worker: usize,
    options: &PgOptions,
    recv: &crossbeam_channel::Receiver<(u64, Batch)>,
    status: &std::sync::Mutex<PgStatus>,
) {
    let fail = |e: String| {
        if let Ok(mut s) = status.lock() {
            s.error = Some(e);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(e.to_string()),
    };
    let mut client = None;
    for (epoch, mut batch) in recv {
        if let Some(agent) = &options.agent {
            rt.block_on(ask_agent(agent, &mut client, options, &mut batch));
        }
        match rt.block_on(commit_with_retry(
            &mut client,
            options,
            worker,
            epoch,
            &batch,
        )) {
            Ok(()) => {
                if let Ok(mut s) = status.lock() {
                    s.rows_written += batch.len();
                    s.commits += 1;
                }
            }
            // Dropping the receiver makes the operator's next send fail, which stops the job.
            Err(e) => return fail(format!("{e:#}")),
        }
    }
}

/// The final state of every staged key.
#[derive(Debug, Default)]
struct Batch {
    recs: Vec<RefundRecommendation>,
    rec_deletes: Vec<String>,
    events: Vec<Event>,
    event_deletes: Vec<(String, String, i64)>,
}

impl Batch {
    /// Moves (never clones) each key's row into the batch: in a replay everything is staged
    /// until the end, and a copy would double the sink's peak.
    fn from_staged(staged: BTreeMap<PgKey, Vec<(PgRow, i64)>>) -> Batch {
        let mut batch = Batch::default();
        for (key, rows) in staged {
            // After consolidation at most one row per key is present; if a bug left two, the
            // greatest wins deterministically rather than failing the whole transaction.
            let present = rows
                .into_iter()
                .filter(|(_, c)| *c > 0)
                .map(|(r, _)| r)
                .max();
            match (key, present) {
                (_, Some(PgRow::Recommendation(r))) => batch.recs.push(r),
                (_, Some(PgRow::OrderEvent(e))) => batch.events.push(e),
                (PgKey::Recommendation(id), None) => batch.rec_deletes.push(id),
                (PgKey::OrderEvent(o, t, s), None) => batch.event_deletes.push((o, t, s)),
            }
        }
        batch
    }

    fn len(&self) -> u64 {
        let n =
            self.recs.len() + self.rec_deletes.len() + self.events.len() + self.event_deletes.len();
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// Replaces each recommendation's `agent_response` (and class and amount) with the LLM's
/// answer. Calls run concurrently (the agent bounds them) before the batch's transaction
/// opens; the agent falls back to its error response itself, so this never fails the batch.
async fn ask_agent(
    agent: &crate::refund::llm::LlmAgent,
    client: &mut Option<Client>,
    options: &PgOptions,
    batch: &mut Batch,
) {
    use crate::refund::llm::AgentInput;
    use caspers_dataflows::time::format_timestamp;
    // The order's timeline: events already in Postgres plus those in this batch.
    let mut timeline: BTreeMap<String, BTreeMap<(i64, String), String>> = BTreeMap::new();
    let ids: Vec<String> = batch.recs.iter().map(|r| pg_text(&r.order_id)).collect();
    if client.as_ref().is_none_or(Client::is_closed) {
        *client = connect(&options.url).await.ok();
    }
    if let Some(c) = client.as_ref() {
        let rows = c
            .query(
                "SELECT order_id, sequence, event_type, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')
                 FROM recommender.order_events WHERE order_id = ANY($1)",
                &[&ids],
            )
            .await
            .unwrap_or_default();
        for row in rows {
            let (id, seq, kind, ts): (String, i64, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            timeline.entry(id).or_default().insert((seq, kind), ts);
        }
    }
    for e in &batch.events {
        timeline.entry(e.order_id.clone()).or_default().insert(
            (e.sequence, e.event_type.as_str().to_string()),
            format_timestamp(e.ts),
        );
    }
    let minutes = |micros: i64| {
        #[allow(clippy::cast_precision_loss, clippy::as_conversions)]
        let m = micros as f64 / 60_000_000.0;
        m
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (index, rec) in batch.recs.iter().enumerate() {
        let input = AgentInput {
            order_id: rec.order_id.clone(),
            location: rec.location.clone(),
            timeline: timeline
                .get(&rec.order_id)
                .map(|t| {
                    t.iter()
                        .map(|((_, kind), ts)| (kind.clone(), ts.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            delivery_minutes: minutes(rec.delivery_micros),
            p50: minutes(rec.window.p50),
            p75: minutes(rec.window.p_partial),
            p99: minutes(rec.window.p_full),
            order_revenue_usd: rec.order_revenue.to_f64(),
            policy_response: rec.agent_response.clone(),
        };
        let agent = agent.clone();
        tasks.spawn(async move { (index, agent.respond(&input).await) });
    }
    while let Some(done) = tasks.join_next().await {
        let Ok((index, response)) = done else {
            continue;
        };
        let Some(rec) = batch.recs.get_mut(index) else {
            continue;
        };
        if let Ok(doc) =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&response)
        {
            if let Some(class) = doc.get("refund_class").and_then(|v| v.as_str()) {
                rec.refund_class = class.to_string();
            }
            if let Some(usd) = doc.get("refund_usd").and_then(serde_json::Value::as_f64) {
                #[allow(clippy::cast_possible_truncation, clippy::as_conversions)]
                let micros = (usd * 1e6).round() as i64;
                rec.refund_usd = caspers_dataflows::money::Money(micros);
            }
        }
        rec.agent_response = response;
    }
}

/// Postgres text cannot hold NUL; the only way one gets here is a `\u0000` escape in the input.
fn pg_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s.to_string()
    }
}

fn pg_json(s: &str) -> String {
    // jsonb rejects the \u0000 escape as well.
    pg_text(s).replace("\\u0000", "\\ufffd")
}

fn is_transient(e: &PgError) -> bool {
    match e {
        PgError::Connect { .. } => true,
        PgError::Sql(e) => {
            e.is_closed()
                || e.code().is_none()
                || e.code().is_some_and(|c| {
                    let c = c.code();
                    // connection exceptions, operator intervention (shutdown), insufficient
                    // resources, and a missing table while another process creates it.
                    c.starts_with("08")
                        || c.starts_with("57")
                        || c.starts_with("53")
                        || c == "42P01"
                })
        }
        _ => false,
    }
}

async fn commit_with_retry(
    client: &mut Option<Client>,
    options: &PgOptions,
    worker: usize,
    epoch: u64,
    batch: &Batch,
) -> Result<(), PgError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = async {
            if client.as_ref().is_none_or(Client::is_closed) {
                *client = Some(connect(&options.url).await?);
            }
            let c = client.as_mut().ok_or_else(|| PgError::GaveUp {
                seconds: 0,
                last: "no client".into(),
            })?;
            write_batch(c, worker, epoch, batch).await
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if is_transient(&e) && started.elapsed() < options.retry_for => {
                eprintln!(
                    "caspers: postgres sink (worker {worker}): {e:#}; retrying in {} ms",
                    delay.as_millis()
                );
                *client = None;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) if is_transient(&e) => {
                return Err(PgError::GaveUp {
                    seconds: started.elapsed().as_secs(),
                    last: format!("{e:#}"),
                })
            }
            Err(e) => return Err(e),
        }
    }
}

const UPSERT_RECS: &str = "
INSERT INTO recommender.pg_recommendations
  (order_id, ts, order_ts, agent_response, refund_class, refund_usd, order_revenue)
SELECT u.order_id, NOW(), 'epoch'::timestamptz + u.order_ts * INTERVAL '1 microsecond',
       u.agent_response, u.refund_class, (u.refund_micros::numeric / 1000000)::numeric(10,2),
       (u.revenue_micros::numeric / 1000000)::numeric(12,2)
FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::int8[])
  AS u(order_id, order_ts, agent_response, refund_class, refund_micros, revenue_micros)
ON CONFLICT (order_id) DO UPDATE SET
  ts = EXCLUDED.ts, order_ts = EXCLUDED.order_ts, agent_response = EXCLUDED.agent_response,
  refund_class = EXCLUDED.refund_class, refund_usd = EXCLUDED.refund_usd,
  order_revenue = EXCLUDED.order_revenue
WHERE (pg_recommendations.order_ts, pg_recommendations.agent_response,
       pg_recommendations.refund_class, pg_recommendations.refund_usd,
       pg_recommendations.order_revenue)
  IS DISTINCT FROM
      (EXCLUDED.order_ts, EXCLUDED.agent_response, EXCLUDED.refund_class, EXCLUDED.refund_usd,
       EXCLUDED.order_revenue)";

const UPSERT_EVENTS: &str = "
INSERT INTO recommender.order_events
  (event_id, event_type, ts, gk_id, location, order_id, sequence, body)
SELECT u.event_id, u.event_type, 'epoch'::timestamptz + u.ts * INTERVAL '1 microsecond',
       u.gk_id, u.location, u.order_id, u.sequence, u.body::jsonb
FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[])
  AS u(event_id, event_type, ts, gk_id, location, order_id, sequence, body)
ON CONFLICT (order_id, event_type, sequence) DO UPDATE SET
  event_id = EXCLUDED.event_id, ts = EXCLUDED.ts, gk_id = EXCLUDED.gk_id,
  location = EXCLUDED.location, body = EXCLUDED.body
WHERE (order_events.event_id, order_events.ts, order_events.gk_id, order_events.location,
       order_events.body)
  IS DISTINCT FROM
      (EXCLUDED.event_id, EXCLUDED.ts, EXCLUDED.gk_id, EXCLUDED.location, EXCLUDED.body)";

/// Rows per statement, so one huge replay publish does not build one huge parameter array.
const CHUNK: usize = 20_000;

async fn write_batch(
    client: &mut Client,
    worker: usize,
    epoch: u64,
    batch: &Batch,
) -> Result<(), PgError> {
    let tx = client.transaction().await?;
    for chunk in batch.recs.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|r| pg_text(&r.order_id)).collect();
        let ts: Vec<i64> = chunk.iter().map(|r| r.order_ts).collect();
        let resp: Vec<String> = chunk.iter().map(|r| pg_text(&r.agent_response)).collect();
        let class: Vec<String> = chunk.iter().map(|r| r.refund_class.clone()).collect();
        let usd: Vec<i64> = chunk.iter().map(|r| r.refund_usd.0).collect();
        let revenue: Vec<i64> = chunk.iter().map(|r| r.order_revenue.0).collect();
        tx.execute(UPSERT_RECS, &[&ids, &ts, &resp, &class, &usd, &revenue])
            .await?;
    }
    if !batch.rec_deletes.is_empty() {
        let ids: Vec<String> = batch.rec_deletes.iter().map(|s| pg_text(s)).collect();
        tx.execute(
            "DELETE FROM recommender.pg_recommendations WHERE order_id = ANY($1)",
            &[&ids],
        )
        .await?;
    }
    for chunk in batch.events.chunks(CHUNK) {
        let eid: Vec<String> = chunk.iter().map(|e| pg_text(&e.event_id)).collect();
        let kind: Vec<String> = chunk
            .iter()
            .map(|e| e.event_type.as_str().to_string())
            .collect();
        let ts: Vec<i64> = chunk.iter().map(|e| e.ts).collect();
        let gk: Vec<String> = chunk.iter().map(|e| pg_text(&e.gk_id)).collect();
        let loc: Vec<String> = chunk.iter().map(|e| pg_text(&e.location)).collect();
        let oid: Vec<String> = chunk.iter().map(|e| pg_text(&e.order_id)).collect();
        let seq: Vec<i64> = chunk.iter().map(|e| e.sequence).collect();
        let body: Vec<String> = chunk.iter().map(|e| pg_json(&e.body)).collect();
        tx.execute(
            UPSERT_EVENTS,
            &[&eid, &kind, &ts, &gk, &loc, &oid, &seq, &body],
        )
        .await?;
    }
    if !batch.event_deletes.is_empty() {
        let o: Vec<String> = batch.event_deletes.iter().map(|d| pg_text(&d.0)).collect();
        let t: Vec<String> = batch.event_deletes.iter().map(|d| d.1.clone()).collect();
        let s: Vec<i64> = batch.event_deletes.iter().map(|d| d.2).collect();
        tx.execute(
            "DELETE FROM recommender.order_events e USING UNNEST($1::text[], $2::text[], $3::int8[])
               AS d(o, t, s) WHERE e.order_id = d.o AND e.event_type = d.t AND e.sequence = d.s",
            &[&o, &t, &s],
        )
        .await?;
    }
    let worker = i32::try_from(worker).unwrap_or(i32::MAX);
    let epoch = i64::try_from(epoch).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO recommender.sink_progress (sink, worker, epoch, updated_at)
         VALUES ('recommender', $1, $2, NOW())
         ON CONFLICT (sink, worker) DO UPDATE SET epoch = EXCLUDED.epoch, updated_at = NOW()",
        &[&worker, &epoch],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("host=h user=u"), "host=h user=u");
    }

    #[test]
    fn nul_never_reaches_postgres() {
        assert_eq!(pg_text("a\0b"), "a\u{fffd}b");
        assert_eq!(pg_json("{\"a\": \"\\u0000\"}"), "{\"a\": \"\\ufffd\"}");
    }
}
