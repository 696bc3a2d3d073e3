//! The LLM refund agent against a scripted OpenAI-compatible endpoint on `127.0.0.1:0`.
//!
//! Each test starts its own [`FakeLlm`]: an axum server whose reply to the n-th request
//! (counting from 0) is chosen by a script, and which records every request's body and
//! `Authorization` header and the most requests it ever had in flight at once. Timeouts in
//! these tests are short so the whole file runs in a few seconds; the agent's backoff between
//! attempts is 200 ms then 400 ms, so a test that exhausts the 3 attempts takes 0.6 s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use caspers::refund::llm::{AgentInput, LlmAgent, LlmConfig, LlmStats, FALLBACK_RESPONSE};
use serde_json::{json, Value};

const PATH: &str = "/v1/chat/completions";

/// What the fake endpoint does with one request.
#[derive(Clone)]
enum Reply {
    /// 200 with a chat completion whose `choices[0].message.content` is this text.
    Content(String),
    /// This status with a small JSON error body.
    Status(StatusCode),
    /// Wait this long, then answer with the content.
    Slow(Duration, String),
    /// 200 with this body as it is.
    Body(Value),
}

type Script = dyn Fn(usize) -> Reply + Send + Sync;

/// What the fake endpoint saw.
#[derive(Default)]
struct Seen {
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
    authorization: Mutex<Vec<Option<String>>>,
}

#[derive(Clone)]
struct FakeState {
    script: Arc<Script>,
    seen: Arc<Seen>,
}

/// A running fake endpoint; it stops with the test's runtime.
struct FakeLlm {
    url: String,
    seen: Arc<Seen>,
}

impl FakeLlm {
    async fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> FakeLlm {
        let seen = Arc::new(Seen::default());
        let state = FakeState {
            script: Arc::new(script),
            seen: Arc::clone(&seen),
        };
        let router = Router::new().route(PATH, post(chat)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeLlm {
            url: format!("http://{addr}{PATH}"),
            seen,
        }
    }

    fn calls(&self) -> usize {
        self.seen.calls.load(Ordering::SeqCst)
    }

    fn config(&self) -> LlmConfig {
        LlmConfig {
            timeout: Duration::from_secs(5),
            ..LlmConfig::new(&self.url, "test-model")
        }
    }

    fn agent(&self) -> LlmAgent {
        LlmAgent::new(self.config()).expect("agent")
    }
}

/// Decrements the in-flight count however the handler ends (including a client hang-up).
struct InFlight<'a>(&'a Seen);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn chat(
    State(state): State<FakeState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let seen = &state.seen;
    let n = seen.calls.fetch_add(1, Ordering::SeqCst);
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(seen);
    seen.bodies.lock().unwrap().push(body);
    seen.authorization.lock().unwrap().push(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    );
    match (state.script)(n) {
        Reply::Content(content) => completion(&content),
        Reply::Status(status) => (status, Json(json!({"error": "scripted"}))).into_response(),
        Reply::Slow(delay, content) => {
            tokio::time::sleep(delay).await;
            completion(&content)
        }
        Reply::Body(body) => Json(body).into_response(),
    }
}

fn completion(content: &str) -> Response {
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
    }))
    .into_response()
}

fn input(order_id: &str) -> AgentInput {
    AgentInput {
        order_id: order_id.into(),
        location: "sanfrancisco".into(),
        timeline: vec![
            ("order_created".into(), "2024-01-15 09:00:00.000".into()),
            ("gk_started".into(), "2024-01-15 09:02:00.000".into()),
            ("delivered".into(), "2024-01-15 09:52:30.000".into()),
        ],
        delivery_minutes: 52.5,
        p50: 30.0,
        p75: 36.25,
        p99: 50.0,
        order_revenue_usd: 43.5,
        policy_response: r#"{"refund_class": "full", "refund_usd": 43.5, "reason": "late"}"#.into(),
    }
}

const VALID: &str = r#"{"refund_class": "partial", "refund_usd": 6.5, "reason": "Delivered 16 minutes after P75."}"#;

/// [`VALID`] as the agent stores it for [`input`].
const VALID_STORED: &str = r#"{"refund_class": "partial", "refund_usd": 6.5, "reason": "Delivered 16 minutes after P75.", "delivery_minutes": 52.5, "p75": 36.25, "p99": 50.0}"#;

fn content(text: &str) -> Reply {
    Reply::Content(text.into())
}

#[tokio::test]
async fn valid_answer_is_used_and_reserialized() {
    // Fenced, padded, keys out of order, an extra key: all normalised away.
    let fake = FakeLlm::start(|_| {
        content(
            "\n```json\n{\"reason\": \"Delivered 16 minutes after P75.\", \"refund_usd\": 6.5, \
             \"refund_class\": \"partial\", \"confidence\": 0.9}\n```\n",
        )
    })
    .await;
    let agent = fake.agent();
    assert_eq!(agent.respond(&input("o-1")).await, VALID_STORED);
    assert_eq!(fake.calls(), 1);
    assert_eq!(
        agent.stats(),
        LlmStats {
            calls: 1,
            ..LlmStats::default()
        }
    );

    // The request: model, temperature 0, the system rules, and the order in the user message.
    let body = fake.seen.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["temperature"], 0);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["role"], "user");
    let system = body["messages"][0]["content"].as_str().unwrap();
    for rule in [
        "none",
        "partial",
        "full",
        "P75",
        "ONLY",
        "refund_usd",
        "reason",
    ] {
        assert!(
            system.contains(rule),
            "system prompt lacks {rule:?}: {system}"
        );
    }
    let user = body["messages"][1]["content"].as_str().unwrap();
    for fact in [
        "o-1",
        "sanfrancisco",
        "- order_created at 2024-01-15 09:00:00.000\n- gk_started",
        "- delivered at 2024-01-15 09:52:30.000",
        "52.5 minutes",
        "P50 30.0, P75 36.2",
        "P99 50.0",
        "$43.50",
        r#"suggests: {"refund_class": "full""#,
    ] {
        assert!(user.contains(fact), "user prompt lacks {fact:?}: {user}");
    }
    assert_eq!(*fake.seen.authorization.lock().unwrap(), vec![None]);
}

#[tokio::test]
async fn invalid_json_twice_then_valid_succeeds_on_third_attempt() {
    let fake = FakeLlm::start(|n| match n {
        0 => content("Sure! Here is the refund: partial"),
        1 => content(r#"{"refund_class": "partial", "refund_usd": 6.5, "reason": "#),
        _ => content(VALID),
    })
    .await;
    let agent = fake.agent();
    assert_eq!(agent.respond(&input("o-1")).await, VALID_STORED);
    assert_eq!(fake.calls(), 3);
    let stats = agent.stats();
    assert_eq!(
        (stats.calls, stats.failed_attempts, stats.failures),
        (3, 2, 0)
    );
}

#[tokio::test]
async fn always_invalid_falls_back_after_exactly_three_calls() {
    let fake =
        FakeLlm::start(|_| content(r#"{"refund_class": "maybe", "refund_usd": 1, "reason": "x"}"#))
            .await;
    let agent = fake.agent();
    assert_eq!(agent.respond(&input("o-1")).await, FALLBACK_RESPONSE);
    assert_eq!(fake.calls(), 3);
    let stats = agent.stats();
    assert_eq!(
        (stats.calls, stats.failed_attempts, stats.failures),
        (3, 3, 1)
    );
    assert!(stats.last_error.is_some_and(|e| e.contains("refund_class")));
}

#[tokio::test]
async fn amount_above_revenue_is_rejected() {
    // Revenue is $43.50: $43.51 is refused, $43.504 is within the half-cent slack.
    let fake = FakeLlm::start(|n| match n {
        0 => content(r#"{"refund_class": "full", "refund_usd": 43.51, "reason": "Very late."}"#),
        _ => content(r#"{"refund_class": "full", "refund_usd": 43.504, "reason": "Very late."}"#),
    })
    .await;
    let agent = fake.agent();
    assert_eq!(
        agent.respond(&input("o-1")).await,
        r#"{"refund_class": "full", "refund_usd": 43.504, "reason": "Very late.", "delivery_minutes": 52.5, "p75": 36.25, "p99": 50.0}"#
    );
    assert_eq!(fake.calls(), 2);

    let greedy = FakeLlm::start(|_| {
        content(r#"{"refund_class": "full", "refund_usd": 100, "reason": "x"}"#)
    })
    .await;
    assert_eq!(
        greedy.agent().respond(&input("o-1")).await,
        FALLBACK_RESPONSE
    );
    assert_eq!(greedy.calls(), 3);
}

#[tokio::test]
async fn non_2xx_and_missing_content_count_as_failed_attempts() {
    let fake = FakeLlm::start(|n| match n {
        0 => Reply::Status(StatusCode::INTERNAL_SERVER_ERROR),
        1 => Reply::Status(StatusCode::TOO_MANY_REQUESTS),
        _ => content(VALID),
    })
    .await;
    let agent = fake.agent();
    assert_eq!(agent.respond(&input("o-1")).await, VALID_STORED);
    assert_eq!(fake.calls(), 3);
    assert_eq!(agent.stats().failed_attempts, 2);

    // A 200 that is not a chat completion, or has no choices, is as bad as a 500.
    let odd = FakeLlm::start(|n| match n {
        0 => Reply::Body(json!({"choices": []})),
        1 => Reply::Body(json!({"choices": [{"message": {"content": null}}]})),
        _ => Reply::Body(json!("hello")),
    })
    .await;
    let agent = odd.agent();
    assert_eq!(agent.respond(&input("o-1")).await, FALLBACK_RESPONSE);
    assert_eq!(odd.calls(), 3);
}

#[tokio::test]
async fn slow_endpoint_beyond_timeout_falls_back() {
    let fake = FakeLlm::start(|_| Reply::Slow(Duration::from_secs(3), VALID.into())).await;
    let agent = LlmAgent::new(LlmConfig {
        timeout: Duration::from_millis(150),
        ..fake.config()
    })
    .unwrap();
    let started = Instant::now();
    assert_eq!(agent.respond(&input("o-1")).await, FALLBACK_RESPONSE);
    // 3 × 150 ms + 200 + 400 ms of backoff, far below one 3 s reply.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.calls(), 3);
    assert_eq!(agent.stats().last_error.as_deref(), Some("timed out"));
}

#[tokio::test]
async fn unreachable_endpoint_falls_back() {
    // Bind then drop: nothing listens on this port afterwards.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let agent = LlmAgent::new(LlmConfig {
        timeout: Duration::from_millis(500),
        ..LlmConfig::new(format!("http://127.0.0.1:{port}{PATH}"), "m")
    })
    .unwrap();
    assert_eq!(agent.respond(&input("o-1")).await, FALLBACK_RESPONSE);
    let stats = agent.stats();
    assert_eq!((stats.calls, stats.failures), (3, 1));
}

#[tokio::test]
async fn cache_same_input_calls_once_and_changed_input_calls_again() {
    let fake = FakeLlm::start(|_| content(VALID)).await;
    let agent = fake.agent();
    let first = input("o-1");
    assert_eq!(agent.respond(&first).await, VALID_STORED);
    // A clone shares the cache.
    assert_eq!(agent.clone().respond(&first).await, VALID_STORED);
    assert_eq!(fake.calls(), 1);

    // A late event changes the timeline: a new call. Another order: a new call.
    let mut later = first.clone();
    later
        .timeline
        .push(("delivered".into(), "2024-01-15 09:53:00.000".into()));
    agent.respond(&later).await;
    assert_eq!(fake.calls(), 2);
    agent.respond(&input("o-2")).await;
    assert_eq!(fake.calls(), 3);
    // Both earlier inputs are still cached.
    agent.respond(&first).await;
    agent.respond(&later).await;
    assert_eq!(fake.calls(), 3);
    let stats = agent.stats();
    assert_eq!((stats.calls, stats.cache_hits), (3, 3));
}

#[tokio::test]
async fn cache_makes_one_call_for_identical_inputs_in_flight() {
    let fake = FakeLlm::start(|_| Reply::Slow(Duration::from_millis(100), VALID.into())).await;
    let agent = fake.agent();
    let one = input("o-1");
    let twin = agent.clone();
    let (a, b) = tokio::join!(agent.respond(&one), twin.respond(&one));
    assert_eq!((a.as_str(), b.as_str()), (VALID_STORED, VALID_STORED));
    assert_eq!(fake.calls(), 1);
    assert_eq!(agent.stats().cache_hits, 1);
}

#[tokio::test]
async fn failures_are_cached_too() {
    let fake = FakeLlm::start(|_| content("no")).await;
    let agent = fake.agent();
    assert_eq!(agent.respond(&input("o-1")).await, FALLBACK_RESPONSE);
    assert_eq!(agent.respond(&input("o-1")).await, FALLBACK_RESPONSE);
    assert_eq!(fake.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_across_clones() {
    let fake = FakeLlm::start(|_| Reply::Slow(Duration::from_millis(100), VALID.into())).await;
    let agent = LlmAgent::new(LlmConfig {
        concurrency: 2,
        ..fake.config()
    })
    .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let agent = agent.clone();
        tasks.spawn(async move { agent.respond(&input(&format!("o-{i}"))).await });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap(), VALID_STORED);
    }
    assert_eq!(fake.calls(), 10);
    // Never more than 2; and 2 was reached, so the limit is not accidentally 1.
    assert_eq!(fake.seen.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn bearer_key_is_sent_when_configured() {
    let fake = FakeLlm::start(|_| content(VALID)).await;
    let agent = LlmAgent::new(LlmConfig {
        api_key: Some("sk-test-123".into()),
        ..fake.config()
    })
    .unwrap();
    assert_eq!(agent.respond(&input("o-1")).await, VALID_STORED);
    assert_eq!(
        *fake.seen.authorization.lock().unwrap(),
        vec![Some("Bearer sk-test-123".to_string())]
    );
}
