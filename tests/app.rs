//! The Refund Manager API against a real PostgreSQL: every endpoint, every 4xx path, paging
//! edges, the bearer token on and off, `DEBUG` details, missing tables and custom schemas.
//!
//! Each test creates its own database (`test_app_<pid>_<n>`), so tests run in parallel; with
//! no `DATABASE_URL` they print "skipped" and pass. The fixture is
//! `tests/data/app/fixture.sql`; its numbers, worked out by hand:
//!
//! ```text
//! order   delivered  class    usd    revenue  decision in force
//! o-1001  12:50      partial   4.50   32.10   -
//! o-1002  12:40      full     27.80   27.80   -
//! o-1003  12:30      none      0.00   18.00   -
//! o-1004  12:20      partial   3.20   NULL    partial 3.20
//! o-1005  12:10      error     0.00   12.00   -
//! o-1006  12:00      full     15.00   15.00   full 15.00 (after an earlier none 0.00)
//! o-1007  11:50      none      0.00   22.40   -
//! o-2001  NULL       partial   6.00   40.00   -
//! ```
//! Without $0 suggestions: 5 counted (partial 3, full 2), $56.50 suggested, 3 pending
//! (o-1001, o-1002, o-2001); decisions in force: 2 (partial 1, full 1), $18.20.

mod browser;
mod http;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use caspers::app::AppConfig;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use http::Response;

const FIXTURE: &str = include_str!("data/app/fixture.sql");

/// A fresh database on the test cluster, dropped by [`TestDb::drop_db`].
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// Connection settings for it.
    pub config: tokio_postgres::Config,
    /// A client connected to it, for fixtures and checks.
    pub client: tokio_postgres::Client,
    admin: tokio_postgres::Client,
}

impl TestDb {
    /// Creates a database, or `None` (after saying so) when `DATABASE_URL` is unset.
    pub async fn create() -> Option<TestDb> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let Ok(url) = std::env::var("DATABASE_URL") else {
            eprintln!("skipped: DATABASE_URL not set");
            return None;
        };
        let admin = connect(&url.parse().expect("DATABASE_URL")).await;
        let name = format!(
            "test_app_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // Separate statements: a multi-statement string would run as one transaction,
        // which CREATE/DROP DATABASE refuse.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin
                .batch_execute(&sql)
                .await
                .expect("create test database");
        }
        let mut config: tokio_postgres::Config = url.parse().expect("DATABASE_URL");
        config.dbname(&name);
        let client = connect(&config).await;
        Some(TestDb {
            name,
            config,
            client,
            admin,
        })
    }

    /// Loads the standard fixture.
    pub async fn load_fixture(&self) {
        self.client.batch_execute(FIXTURE).await.expect("fixture");
    }

    /// Drops the database, closing whatever is still connected to it.
    pub async fn drop_db(&self) {
        self.admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop test database");
    }
}

async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(connection);
    client
}

/// A running server on a free port, over its own database.
struct TestApp {
    addr: SocketAddr,
    db: TestDb,
    token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// A fresh database with the fixture, served with `config`.
    async fn with_fixture(config: AppConfig) -> Option<TestApp> {
        let db = TestDb::create().await?;
        db.load_fixture().await;
        Some(Self::start(db, config).await)
    }

    async fn start(db: TestDb, config: AppConfig) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let pool = caspers::app::pool(db.config.clone(), 4).expect("pool");
        let (stop, stopped) = oneshot::channel::<()>();
        let token = config.token.clone();
        let task = tokio::spawn(caspers::app::serve_with(listener, pool, config, async {
            let _ = stopped.await;
        }));
        // `serve_with` migrates before accepting; wait until it answers.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        TestApp {
            addr,
            db,
            token,
            stop: Some(stop),
            task,
        }
    }

    fn auth(&self) -> Vec<(&str, String)> {
        self.token
            .iter()
            .map(|t| ("Authorization", format!("Bearer {t}")))
            .collect()
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let auth = self.auth();
        let mut all: Vec<(&str, &str)> = auth.iter().map(|(n, v)| (*n, v.as_str())).collect();
        all.extend_from_slice(headers);
        http::request(self.addr, method, path, &all, body).await
    }

    async fn get(&self, path: &str) -> Response {
        self.send("GET", path, &[], None).await
    }

    /// GET, expecting 200 and JSON.
    async fn get_ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    async fn post_json(&self, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("json");
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(&bytes),
        )
        .await
    }

    /// Stops the server (it must shut down cleanly) and drops the database.
    async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = (&mut self.task).await.expect("server task");
        result.expect("server ended with an error");
        self.db.drop_db().await;
    }
}

fn order_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["order_id"].as_str().expect("order_id").to_string())
        .collect()
}

/// The field names of a 422 body.
fn fields(r: &Response) -> Vec<String> {
    assert_eq!(r.status, 422, "{}", r.text());
    let body = r.json();
    assert!(body["error"].is_string(), "{body}");
    body["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("no fields in {body}"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn summary_counts_include_zero_and_bad_parameters() {
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    let s = app.get_ok("/api/summary").await;
    assert_eq!(
        s,
        json!({
            "recommendations_count": 5,
            "total_recommendations": 8,
            "suggestions_by_class": {"none": 0, "partial": 3, "full": 2},
            "suggested_total_usd": 56.5,
            "decisions_count": 2,
            "decisions_by_class": {"none": 0, "partial": 1, "full": 1},
            "decided_total_usd": 18.2,
            "pending_count": 3,
        })
    );
    let s = app.get_ok("/api/summary?include_zero=true").await;
    assert_eq!(s["recommendations_count"], 8);
    assert_eq!(
        s["suggestions_by_class"],
        json!({"none": 2, "partial": 3, "full": 2, "error": 1})
    );
    assert_eq!(s["suggested_total_usd"], 56.5);
    assert_eq!(s["pending_count"], 6);
    assert_eq!(
        app.get_ok("/api/summary?include_zero=false").await["recommendations_count"],
        5
    );

    assert_eq!(
        fields(&app.get("/api/summary?include_zero=maybe").await),
        ["include_zero"]
    );
    assert_eq!(
        fields(&app.get("/api/summary?colour=red").await),
        ["colour"]
    );
    app.finish().await;
}

#[tokio::test]
async fn recommendations_newest_first_with_latest_decision() {
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    let page = app.get_ok("/api/recommendations").await;
    assert_eq!(
        order_ids(&page),
        ["o-1001", "o-1002", "o-1004", "o-1006", "o-2001"]
    );
    assert_eq!(
        (
            &page["limit"],
            &page["offset"],
            &page["total"],
            &page["has_more"]
        ),
        (&json!(50), &json!(0), &json!(5), &json!(false))
    );
    let first = &page["items"][0];
    assert_eq!(
        first,
        &json!({
            "order_id": "o-1001",
            "ts": "2024-01-15T13:00:00.000Z",
            "order_ts": "2024-01-15T12:50:00.000Z",
            "order_revenue": 32.1,
            "suggestion": {
                "refund_class": "partial",
                "refund_usd": 4.5,
                "reason": "Delivered 52 min after order, above p75 of 40 min",
                "delivery_minutes": 52.0,
                "p75": 40.0,
                "p99": 70.0,
            },
            "decision": null,
            "status": "pending",
        })
    );
    // o-1006 was decided twice: the later decision is the one shown.
    let o1006 = &page["items"][3];
    assert_eq!(o1006["status"], "applied");
    assert_eq!(o1006["decision"]["refund_class"], "full");
    assert_eq!(o1006["decision"]["amount_usd"], 15.0);
    assert_eq!(o1006["decision"]["decided_by"], "bo@caspers.example");
    assert_eq!(o1006["decision"]["decided_ts"], "2024-01-15T14:10:00.000Z");
    assert_eq!(page["items"][4]["order_ts"], Value::Null);
    assert_eq!(page["items"][2]["order_revenue"], Value::Null);

    // An unparsable agent response still lists, with a note for a reason.
    let all = app
        .get_ok("/api/recommendations?include_zero=true&refund_class=error")
        .await;
    assert_eq!(order_ids(&all), ["o-1005"]);
    assert_eq!(
        all["items"][0]["suggestion"]["reason"],
        "agent response is not valid JSON"
    );
    app.finish().await;
}

#[tokio::test]
async fn recommendations_filters() {
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    let ids = |path: &'static str| {
        let app = &app;
        async move { order_ids(&app.get_ok(path).await) }
    };
    assert_eq!(
        ids("/api/recommendations?include_zero=true").await,
        ["o-1001", "o-1002", "o-1003", "o-1004", "o-1005", "o-1006", "o-1007", "o-2001"]
    );
    assert_eq!(
        ids("/api/recommendations?status=pending").await,
        ["o-1001", "o-1002", "o-2001"]
    );
    assert_eq!(
        ids("/api/recommendations?status=applied").await,
        ["o-1004", "o-1006"]
    );
    assert_eq!(
        ids("/api/recommendations?refund_class=partial").await,
        ["o-1001", "o-1004", "o-2001"]
    );
    assert!(ids("/api/recommendations?refund_class=none")
        .await
        .is_empty());
    assert_eq!(
        ids("/api/recommendations?refund_class=none&include_zero=1").await,
        ["o-1003", "o-1007"]
    );
    assert_eq!(
        ids("/api/recommendations?q=o-100").await,
        ["o-1001", "o-1002", "o-1004", "o-1006"]
    );
    assert_eq!(ids("/api/recommendations?q=o-2").await, ["o-2001"]);
    // A prefix, taken literally: no LIKE wildcards, no case folding.
    assert!(ids("/api/recommendations?q=o-1%25").await.is_empty());
    assert!(ids("/api/recommendations?q=O-1").await.is_empty());
    assert_eq!(
        ids("/api/recommendations?status=pending&refund_class=full&q=o-10").await,
        ["o-1002"]
    );
    assert_eq!(
        ids("/api/recommendations?status=&refund_class=all&q=")
            .await
            .len(),
        5
    );
    let p = app
        .get_ok("/api/recommendations?status=pending&limit=1")
        .await;
    assert_eq!((&p["total"], &p["has_more"]), (&json!(3), &json!(true)));

    for (query, field) in [
        ("status=done", "status"),
        ("refund_class=huge", "refund_class"),
        ("include_zero=2", "include_zero"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-3", "offset"),
        ("offset=9999999999999999999999", "offset"),
        ("sort=ts", "sort"),
    ] {
        let r = app.get(&format!("/api/recommendations?{query}")).await;
        assert_eq!(fields(&r), [field], "{query}");
    }
    let long = "x".repeat(201);
    assert_eq!(
        fields(&app.get(&format!("/api/recommendations?q={long}")).await),
        ["q"]
    );
    // Several bad parameters are reported together.
    assert_eq!(
        fields(&app.get("/api/recommendations?limit=x&status=y").await),
        ["limit", "status"]
    );
    app.finish().await;
}

#[tokio::test]
async fn recommendations_paging_edges() {
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    let page = |offset: i64, limit: i64| {
        let app = &app;
        async move {
            app.get_ok(&format!(
                "/api/recommendations?limit={limit}&offset={offset}"
            ))
            .await
        }
    };
    let p = page(0, 2).await;
    assert_eq!(order_ids(&p), ["o-1001", "o-1002"]);
    assert_eq!((&p["total"], &p["has_more"]), (&json!(5), &json!(true)));
    let p = page(2, 2).await;
    assert_eq!(order_ids(&p), ["o-1004", "o-1006"]);
    assert_eq!(p["has_more"], true);
    let p = page(4, 2).await;
    assert_eq!(order_ids(&p), ["o-2001"]);
    assert_eq!(p["has_more"], false);
    // Offset at and past the end: an empty page that still reports the total.
    for offset in [5, 6, 1_000_000] {
        let p = page(offset, 2).await;
        assert!(order_ids(&p).is_empty(), "offset {offset}");
        assert_eq!(
            (&p["total"], &p["has_more"], &p["offset"]),
            (&json!(5), &json!(false), &json!(offset))
        );
    }
    // Limit 0: no rows, only the count.
    let p = page(0, 0).await;
    assert!(order_ids(&p).is_empty());
    assert_eq!(
        (&p["limit"], &p["total"], &p["has_more"]),
        (&json!(0), &json!(5), &json!(true))
    );

    // Limit above the cap is capped at 500.
    app.db
        .client
        .batch_execute(
            "INSERT INTO recommender.pg_recommendations
             SELECT 'bulk-' || lpad(i::text, 4, '0'), '2024-01-14 00:00:00+00',
                    '2024-01-14 00:00:00+00'::timestamptz - i * interval '1 minute',
                    '{\"refund_class\":\"partial\",\"refund_usd\":1.0,\"reason\":\"bulk\"}',
                    'partial', 1.00, 10.00
             FROM generate_series(1, 510) AS i",
        )
        .await
        .expect("bulk rows");
    let p = page(0, 100_000).await;
    assert_eq!(p["limit"], 500);
    assert_eq!(p["items"].as_array().map(Vec::len), Some(500));
    assert_eq!((&p["total"], &p["has_more"]), (&json!(515), &json!(true)));
    let p = page(500, 500).await;
    let ids = order_ids(&p);
    assert_eq!(ids.len(), 15);
    assert_eq!(ids.last().map(String::as_str), Some("o-2001"));
    assert_eq!(p["has_more"], false);
    app.finish().await;
}

#[tokio::test]
async fn apply_refund_stores_row_and_updates_views() {
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    let r = app
        .post_json(
            "/api/refunds",
            &json!({
                "order_id": "o-1001",
                "amount_usd": 4.5,
                "refund_class": "partial",
                "reason": "  Late, as suggested  ",
                "decided_by": "tester@caspers.example",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let row = r.json();
    assert!(row["id"].as_i64().is_some_and(|id| id > 3), "{row}");
    assert!(
        row["decided_ts"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{row}"
    );
    assert_eq!(
        (
            &row["order_id"],
            &row["amount_usd"],
            &row["refund_class"],
            &row["reason"],
            &row["decided_by"]
        ),
        (
            &json!("o-1001"),
            &json!(4.5),
            &json!("partial"),
            &json!("Late, as suggested"),
            &json!("tester@caspers.example")
        )
    );
    assert_eq!(row.as_object().map(|o| o.len()), Some(7), "{row}");

    // Stored exactly, with the recommendation it answered.
    let stored = app
        .db
        .client
        .query_one(
            "SELECT amount_usd::text, source_suggestion::text FROM refunds.refund_decisions WHERE id = $1",
            &[&row["id"].as_i64()],
        )
        .await
        .expect("stored row");
    assert_eq!(stored.get::<_, String>(0), "4.50");
    let source: Value = serde_json::from_str(&stored.get::<_, String>(1)).expect("jsonb");
    assert_eq!(source["refund_class"], "partial");
    assert_eq!(source["refund_usd"], 4.5);
    assert_eq!(source["order_revenue"], 32.1);
    assert_eq!(
        source["reason"],
        "Delivered 52 min after order, above p75 of 40 min"
    );
    assert_eq!(source["ts"], "2024-01-15T13:00:00.000Z");

    // The list and the summary follow.
    let p = app.get_ok("/api/recommendations?q=o-1001").await;
    assert_eq!(p["items"][0]["status"], "applied");
    assert_eq!(p["items"][0]["decision"]["id"], row["id"]);
    let s = app.get_ok("/api/summary").await;
    assert_eq!(
        (
            &s["decisions_count"],
            &s["pending_count"],
            &s["decided_total_usd"],
            &s["decisions_by_class"]
        ),
        (
            &json!(3),
            &json!(2),
            &json!(22.7),
            &json!({"none": 0, "partial": 2, "full": 1})
        )
    );

    // A refund equal to the revenue is fine; no revenue means no ceiling.
    let full = json!({"order_id": "o-1002", "amount_usd": 27.8, "refund_class": "full", "reason": "Very late"});
    assert_eq!(app.post_json("/api/refunds", &full).await.status, 201);
    let big = json!({"order_id": "o-1004", "amount_usd": 1000, "refund_class": "full", "reason": "Goodwill"});
    assert_eq!(app.post_json("/api/refunds", &big).await.status, 201);

    // A re-decision replaces the earlier one in the summary.
    let none = json!({"order_id": "o-1001", "amount_usd": 0, "refund_class": "none", "reason": "Changed my mind"});
    assert_eq!(app.post_json("/api/refunds", &none).await.status, 201);
    let s = app.get_ok("/api/summary").await;
    assert_eq!(s["decisions_count"], 4);
    assert_eq!(
        s["decisions_by_class"],
        json!({"none": 1, "partial": 0, "full": 3})
    );
    assert_eq!(s["decided_total_usd"], 1042.8);
    assert_eq!(s["pending_count"], 1);
    app.finish().await;
}

#[tokio::test]
async fn apply_refund_rejections() {
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    let ok = json!({"order_id": "o-1001", "amount_usd": 4.5, "refund_class": "partial", "reason": "Late"});
    let with = |key: &str, value: Value| {
        let mut body = ok.clone();
        if value.is_null() {
            body.as_object_mut().map(|o| o.remove(key));
        } else {
            body[key] = value;
        }
        body
    };
    for (body, field) in [
        (with("order_id", Value::Null), "order_id"),
        (with("order_id", json!("   ")), "order_id"),
        (with("order_id", json!(1001)), "order_id"),
        (with("amount_usd", Value::Null), "amount_usd"),
        (with("amount_usd", json!(-0.01)), "amount_usd"),
        (with("amount_usd", json!("4.50")), "amount_usd"),
        (with("amount_usd", json!(4.505)), "amount_usd"),
        (with("amount_usd", json!(1e10)), "amount_usd"),
        (with("refund_class", json!("refund")), "refund_class"),
        (with("refund_class", json!("error")), "refund_class"),
        (with("refund_class", Value::Null), "refund_class"),
        (with("refund_class", json!("none")), "amount_usd"),
        (with("reason", json!("")), "reason"),
        (with("reason", Value::Null), "reason"),
        (with("reason", json!("x".repeat(2001))), "reason"),
        (with("decided_by", json!(42)), "decided_by"),
        (json!([ok.clone()]), "body"),
    ] {
        let r = app.post_json("/api/refunds", &body).await;
        assert_eq!(fields(&r), [field], "{body}");
    }
    // Every bad field at once.
    let r = app
        .post_json(
            "/api/refunds",
            &json!({"amount_usd": -1, "refund_class": "x"}),
        )
        .await;
    assert_eq!(
        fields(&r),
        ["amount_usd", "order_id", "reason", "refund_class"]
    );
    // Above the order's revenue.
    let r = app
        .post_json("/api/refunds", &with("amount_usd", json!(32.11)))
        .await;
    assert_eq!(fields(&r), ["amount_usd"]);
    assert!(r.json()["fields"]["amount_usd"]
        .as_str()
        .is_some_and(|m| m.contains("32.10")));
    // Unknown order.
    let r = app
        .post_json("/api/refunds", &with("order_id", json!("o-9999")))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|m| m.contains("o-9999")));
    // Not JSON, not declared JSON, too large.
    let r = app
        .send(
            "POST",
            "/api/refunds",
            &[("Content-Type", "application/json")],
            Some(b"{\"order_id\":"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let body = serde_json::to_vec(&ok).expect("json");
    let r = app
        .send(
            "POST",
            "/api/refunds",
            &[("Content-Type", "text/plain")],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 415, "{}", r.text());
    let r = app.send("POST", "/api/refunds", &[], Some(&body)).await;
    assert_eq!(r.status, 415, "{}", r.text());
    let huge = serde_json::to_vec(&with("reason", json!("x".repeat(70 * 1024)))).expect("json");
    let r = app
        .send(
            "POST",
            "/api/refunds",
            &[("Content-Type", "application/json")],
            Some(&huge),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    // Wrong method.
    assert_eq!(app.get("/api/refunds").await.status, 405);
    // Nothing was stored by any of this.
    let n: i64 = app
        .db
        .client
        .query_one("SELECT count(*) FROM refunds.refund_decisions", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 3);
    app.finish().await;
}

#[tokio::test]
async fn order_events_timeline() {
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    let t = app.get_ok("/api/orders/o-1001/events").await;
    assert_eq!(t["order_id"], "o-1001");
    let events = t["events"].as_array().expect("events");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds,
        [
            "order_created",
            "gk_started",
            "gk_finished",
            "gk_ready",
            "driver_arrived",
            "driver_picked_up",
            "delivered"
        ]
    );
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().expect("sequence"))
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5, 8]);
    assert_eq!(
        events[0],
        json!({
            "event_id": "e1",
            "event_type": "order_created",
            "ts": "2024-01-15T11:58:00.000Z",
            "gk_id": "gk-1",
            "location": "sanfrancisco",
            "sequence": 0,
            "body": {"customer_lat": 37.79, "customer_lon": -122.39, "customer_addr": "160 Spear St",
                     "items": [{"id": 1, "name": "Burrito", "price": 12.5, "qty": 2}]},
        })
    );
    // A body stored as a JSON string is returned as the document it holds.
    assert_eq!(events[3]["body"], json!({"shelf": "A3"}));

    // Known order without events; events without a recommendation; unknown order.
    assert_eq!(
        app.get_ok("/api/orders/o-1002/events").await["events"],
        json!([])
    );
    let only = app.get_ok("/api/orders/o-3001/events").await;
    assert_eq!(only["events"][0]["body"], Value::Null);
    let r = app.get("/api/orders/o-9999/events").await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|m| m.contains("o-9999")));
    let r = app.get("/api/orders/%20/events").await;
    assert_eq!(fields(&r), ["order_id"]);
    let r = app
        .get(&format!("/api/orders/{}/events", "x".repeat(201)))
        .await;
    assert_eq!(fields(&r), ["order_id"]);
    app.finish().await;
}

#[tokio::test]
async fn bearer_token_on_and_off() {
    let config = AppConfig {
        token: Some("s3cret-token".into()),
        ..AppConfig::default()
    };
    let Some(mut app) = TestApp::with_fixture(config).await else {
        return;
    };
    // With the right token every endpoint answers.
    assert_eq!(app.get_ok("/api/summary").await["pending_count"], 3);
    let good =
        json!({"order_id": "o-1001", "amount_usd": 1, "refund_class": "partial", "reason": "r"});
    assert_eq!(app.post_json("/api/refunds", &good).await.status, 201);
    assert_eq!(app.get("/api/nope").await.status, 404);

    let paths = [
        ("GET", "/api/summary"),
        ("GET", "/api/recommendations"),
        ("GET", "/api/orders/o-1001/events"),
        ("POST", "/api/refunds"),
        ("GET", "/api/nope"),
    ];
    for header in [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cret-toke"),
        Some("Basic s3cret-token"),
        Some("s3cret-token"),
    ] {
        app.token = None;
        for (method, path) in paths {
            let headers: Vec<(&str, &str)> = header
                .iter()
                .map(|h| ("Authorization", *h))
                .chain([("Content-Type", "application/json")])
                .collect();
            let body = (method == "POST").then(|| br#"{"order_id":"o-1001"}"#.as_slice());
            let r = app.send(method, path, &headers, body).await;
            assert_eq!(r.status, 401, "{method} {path} with {header:?}");
            assert!(r
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")));
            assert!(r.json()["error"].is_string());
        }
    }
    // The page, health and metrics stay open (the page asks for the token itself).
    for path in ["/", "/app.js", "/app.css", "/healthz", "/metrics"] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
    app.finish().await;

    // Without a token configured, no header is needed.
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    assert_eq!(app.get("/api/summary").await.status, 200);
    let r = app
        .send(
            "GET",
            "/api/summary",
            &[("Authorization", "Bearer anything")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    app.finish().await;
}

#[tokio::test]
async fn health_metrics_page_and_unknown_routes() {
    let Some(app) = TestApp::with_fixture(AppConfig::default()).await else {
        return;
    };
    assert_eq!(
        app.get_ok("/healthz").await,
        json!({"status": "ok", "database": "ok"})
    );
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/html")));
    assert!(page
        .header("content-security-policy")
        .is_some_and(|v| v.contains("default-src 'self'")));
    let html = page.text();
    assert!(
        html.contains("<script src=\"/app.js\" defer></script>"),
        "{html}"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN"
    );
    let js = app.get("/app.js").await;
    assert!(js
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/javascript")));
    assert!(!js.text().contains("alert("), "errors are shown inline");
    assert!(app
        .get("/app.css")
        .await
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/css")));

    let r = app.get("/nope").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    assert_eq!(app.get("/api/summary?x=1").await.status, 422);
    app.get_ok("/api/orders/o-1001/events").await;
    app.get_ok("/api/orders/o-1002/events").await;

    let m = app.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")));
    let text = m.text();
    for line in [
        "# TYPE caspers_http_requests_total counter",
        "caspers_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1",
        "caspers_http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 1",
        "caspers_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "caspers_http_requests_total{method=\"GET\",route=\"/api/summary\",status=\"422\"} 1",
        "caspers_http_requests_total{method=\"GET\",route=\"/api/orders/{order_id}/events\",status=\"200\"} 2",
        "# TYPE caspers_http_request_duration_seconds histogram",
        "caspers_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/orders/{order_id}/events\",le=\"+Inf\"} 2",
        "caspers_http_request_duration_seconds_count{method=\"GET\",route=\"/api/orders/{order_id}/events\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }

    // Health follows the database: drop it under the server.
    app.db.drop_db().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["database"], "unreachable");
    let r = app.get("/api/summary").await;
    assert!(r.status >= 500, "{}", r.text());
    app.finish().await;
}

#[tokio::test]
async fn missing_recommender_tables_are_503_and_decisions_table_is_created() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let app = TestApp::start(db, AppConfig::default()).await;
    for (path, table) in [
        ("/api/summary", "recommender.pg_recommendations"),
        ("/api/recommendations", "recommender.pg_recommendations"),
        ("/api/orders/o-1/events", "recommender.order_events"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 503, "{path}: {}", r.text());
        assert!(
            r.json()["error"]
                .as_str()
                .is_some_and(|m| m.contains(table)),
            "{path}: {}",
            r.text()
        );
    }
    let r = app
        .post_json(
            "/api/refunds",
            &json!({"order_id": "o-1", "amount_usd": 1, "refund_class": "full", "reason": "r"}),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.text());
    let n: i64 = app
        .db
        .client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'refunds'
             AND tablename = 'refund_decisions' AND indexname = 'idx_refund_decisions_order_id'",
            &[],
        )
        .await
        .expect("catalog")
        .get(0);
    assert_eq!(n, 1);
    // Once the pipeline has created and filled its tables, the same server serves them.
    app.db.load_fixture().await;
    assert_eq!(app.get_ok("/api/summary").await["pending_count"], 3);
    app.finish().await;
}

#[tokio::test]
async fn internal_errors_are_detailed_only_with_debug() {
    for debug in [false, true] {
        let config = AppConfig {
            debug,
            ..AppConfig::default()
        };
        let Some(app) = TestApp::with_fixture(config).await else {
            return;
        };
        // A table the server cannot query: `refund_usd <> 0` has no text <> integer.
        app.db
            .client
            .batch_execute("ALTER TABLE recommender.pg_recommendations ALTER refund_usd TYPE text")
            .await
            .expect("alter");
        let r = app.get("/api/summary").await;
        assert_eq!(r.status, 500, "{}", r.text());
        let body = r.json();
        assert_eq!(body["error"], "internal error");
        match debug {
            false => assert!(body.get("detail").is_none(), "{body}"),
            true => assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("operator does not exist")),
                "{body}"
            ),
        }
        app.finish().await;
    }
}

#[tokio::test]
async fn custom_schema_names() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let fixture = FIXTURE
        .replace("recommender", "recs_alt")
        .replace("refunds", "rf_alt");
    db.client.batch_execute(&fixture).await.expect("fixture");
    let config = AppConfig {
        refunds_schema: "rf_alt".into(),
        recs_schema: "recs_alt".into(),
        ..AppConfig::default()
    };
    let app = TestApp::start(db, config).await;
    let s = app.get_ok("/api/summary").await;
    assert_eq!(
        (&s["recommendations_count"], &s["decisions_count"]),
        (&json!(5), &json!(2))
    );
    let r = app
        .post_json(
            "/api/refunds",
            &json!({"order_id": "o-1001", "amount_usd": 2, "refund_class": "partial", "reason": "r"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        app.get_ok("/api/orders/o-1001/events").await["events"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );
    let schemas: i64 = app
        .db
        .client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname IN ('refunds', 'recommender')",
            &[],
        )
        .await
        .expect("catalog")
        .get(0);
    assert_eq!(schemas, 0, "the default schemas were not touched");
    app.finish().await;
}
