//! The optional LLM refund agent: an OpenAI-compatible chat completion that replaces the
//! deterministic policy's `agent_response` for the Postgres table.
//!
//! It keeps the original's behaviour (`get_chat_completion_udf`): up to 3 attempts, every reply
//! validated as JSON, and on failure the fixed [`FALLBACK_RESPONSE`]. On top of that, because a
//! slow endpoint must never stall the views, calls are async, bounded by a semaphore shared by
//! every clone of the agent, and cached by `(order_id, hash of the request)`, so replaying the
//! same input (a restart, a retraction followed by the same row) never calls twice.
//!
//! Transport: plain `http://` only (a local OpenAI-compatible server such as vLLM, llama.cpp
//! or Ollama). TLS is not compiled in, so an `https://` URL is rejected by [`LlmAgent::new`];
//! proxies from the environment are ignored for the same reason (the endpoint is local).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{OnceCell, Semaphore};

/// What the agent stores when no attempt produced a valid answer (the original's fallback).
pub const FALLBACK_RESPONSE: &str =
    r#"{"refund_usd":0.0,"refund_class":"error","reason":"agent did not return valid JSON"}"#;

/// Attempts per input, as in the original.
pub const ATTEMPTS: usize = 3;

/// Default for [`LlmConfig::concurrency`].
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Default for [`LlmConfig::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause before the second and third attempts.
const BACKOFF: [Duration; ATTEMPTS - 1] = [Duration::from_millis(200), Duration::from_millis(400)];

/// Slack on the "at most the order revenue" check, for a model that rounds to the cent.
const REVENUE_SLACK_USD: f64 = 0.005;

/// The system message: the original's rules, and the answer format.
pub const SYSTEM_PROMPT: &str = "\
You are the refund agent of Casper's Kitchens, a ghost-kitchen food delivery business. \
For one delivered order you get its event timeline, its delivery time in minutes, the \
delivery-time percentiles P50, P75 and P99 of its location over the previous 24 hours, the \
order revenue, and the suggestion of a deterministic policy. Decide whether the customer gets \
a refund for a late delivery.
Rules:
- refund_class is one of \"none\", \"partial\", \"full\".
- No refund when the delivery time is at or below the location's P75: refund_class \"none\" \
and refund_usd 0.
- Later than P75 up to P99 is usually \"partial\"; later than P99 is usually \"full\".
- refund_usd is in US dollars, at least 0 and at most the order revenue.
- reason is one short sentence explaining the decision.
Answer ONLY with a JSON object with exactly these keys and no other text:
{\"refund_class\": \"none|partial|full\", \"refund_usd\": 0.0, \"reason\": \"...\"}";

/// Where and how to reach the model.
#[derive(Clone)]
pub struct LlmConfig {
    /// The full endpoint, e.g. `http://127.0.0.1:8000/v1/chat/completions`; `http` only.
    pub url: String,
    /// The model name sent in each request.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set; never printed by `Debug`.
    pub api_key: Option<String>,
    /// Requests in flight at once, across all clones of the agent; at least 1.
    pub concurrency: usize,
    /// Limit on one attempt (connect, send and read the whole reply); more than zero.
    pub timeout: Duration,
}

impl LlmConfig {
    /// A configuration with no key and the default concurrency and timeout.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> LlmConfig {
        LlmConfig {
            url: url.into(),
            model: model.into(),
            api_key: None,
            concurrency: DEFAULT_CONCURRENCY,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A configuration the agent cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The endpoint URL does not parse or is not `http://`.
    #[error("bad llm url {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting outside its range (empty model, zero concurrency or timeout).
    #[error("bad llm setting: {0}")]
    BadSetting(String),
    /// The HTTP client could not be built.
    #[error("cannot build the http client")]
    Client(#[source] reqwest::Error),
}

/// Everything the agent is told about one delivered order.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentInput {
    /// The order.
    pub order_id: String,
    /// Its location (the kitchen's name).
    pub location: String,
    /// `(event_type, ts)` in sequence order; `ts` as the event carried it.
    pub timeline: Vec<(String, String)>,
    /// Minutes from `order_created` to `delivered`.
    pub delivery_minutes: f64,
    /// The location's P50 of delivery minutes over the window, in minutes.
    pub p50: f64,
    /// The location's P75, in minutes.
    pub p75: f64,
    /// The location's P99, in minutes.
    pub p99: f64,
    /// What the order is worth, in US dollars: the upper bound on a refund.
    pub order_revenue_usd: f64,
    /// The deterministic policy's `agent_response`, given to the model as a suggestion.
    pub policy_response: String,
}

/// Counters since the agent was built (shared by its clones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LlmStats {
    /// HTTP requests sent (attempts, not inputs).
    pub calls: u64,
    /// Inputs answered from the cache, or by waiting on an identical call in flight.
    pub cache_hits: u64,
    /// Attempts that failed: transport error, timeout, non-2xx, or a reply that did not validate.
    pub failed_attempts: u64,
    /// Inputs for which every attempt failed, so [`FALLBACK_RESPONSE`] was returned.
    pub failures: u64,
    /// Why the most recent attempt failed, if any has.
    pub last_error: Option<String>,
}

/// The agent. Cheap to clone; clones share the client, the cache, the concurrency limit and
/// the counters.
#[derive(Clone)]
pub struct LlmAgent {
    inner: Arc<Inner>,
}

impl fmt::Debug for LlmAgent {
    // By hand, so the key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmAgent")
            .field("url", &self.inner.url.as_str())
            .field("model", &self.inner.model)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Cache key: the order and a stable hash of the whole request body (model and prompts).
type CacheKey = (String, u64);

struct Inner {
    client: reqwest::Client,
    url: reqwest::Url,
    model: String,
    api_key: Option<String>,
    /// One permit per request in flight; held for one attempt, not across backoff pauses.
    permits: Semaphore,
    /// One cell per input: the first caller fills it and concurrent callers wait on it, so
    /// identical inputs in flight at once still make one call. Fallbacks are cached too: an
    /// input that failed 3 times is not retried (the original stored its fallback as well).
    cache: Mutex<BTreeMap<CacheKey, Arc<OnceCell<String>>>>,
    calls: AtomicU64,
    cache_hits: AtomicU64,
    failed_attempts: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl LlmAgent {
    /// Checks the configuration and builds the HTTP client; sends nothing.
    pub fn new(config: LlmConfig) -> Result<LlmAgent, LlmError> {
        let url = reqwest::Url::parse(&config.url).map_err(|e| LlmError::BadUrl {
            url: config.url.clone(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "http" => {}
            "https" => {
                return Err(LlmError::BadUrl {
                    url: config.url,
                    reason: "https needs TLS, which this build does not include; \
                             use a local http endpoint"
                        .into(),
                })
            }
            other => {
                return Err(LlmError::BadUrl {
                    url: config.url.clone(),
                    reason: format!("unsupported scheme {other:?}"),
                })
            }
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::BadSetting("the model name is empty".into()));
        }
        if config.concurrency == 0 {
            return Err(LlmError::BadSetting(
                "concurrency must be at least 1".into(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(LlmError::BadSetting(
                "the timeout must be more than zero".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .no_proxy()
            .build()
            .map_err(LlmError::Client)?;
        Ok(LlmAgent {
            inner: Arc::new(Inner {
                client,
                url,
                model: config.model,
                api_key: config.api_key,
                permits: Semaphore::new(config.concurrency.min(Semaphore::MAX_PERMITS)),
                cache: Mutex::new(BTreeMap::new()),
                calls: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                failed_attempts: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        })
    }

    /// The `agent_response` JSON (one line) for this input.
    ///
    /// Cached by `(order_id, input)`, so the same input never calls twice; at most
    /// `concurrency` requests are in flight across clones; up to [`ATTEMPTS`] attempts, each
    /// reply validated; [`FALLBACK_RESPONSE`] when none validates. Never panics.
    pub async fn respond(&self, input: &AgentInput) -> String {
        let body = self.request_body(input);
        let key = (input.order_id.clone(), fnv1a64(body.to_string().as_bytes()));
        let cell = {
            let mut cache = lock(&self.inner.cache);
            Arc::clone(cache.entry(key).or_default())
        };
        let mut called = false;
        let response = cell
            .get_or_init(|| {
                called = true;
                self.call(&body, input)
            })
            .await
            .clone();
        if !called {
            self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        response
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LlmStats {
        let inner = &self.inner;
        LlmStats {
            calls: inner.calls.load(Ordering::Relaxed),
            cache_hits: inner.cache_hits.load(Ordering::Relaxed),
            failed_attempts: inner.failed_attempts.load(Ordering::Relaxed),
            failures: inner.failures.load(Ordering::Relaxed),
            last_error: lock(&inner.last_error).clone(),
        }
    }

    /// The chat-completion request for this input.
    fn request_body(&self, input: &AgentInput) -> Value {
        json!({
            "model": self.inner.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_prompt(input)},
            ],
            "temperature": 0,
        })
    }

    /// Up to [`ATTEMPTS`] attempts; the validated response or the fallback.
    async fn call(&self, body: &Value, input: &AgentInput) -> String {
        for attempt in 0..ATTEMPTS {
            if let Some(pause) = attempt.checked_sub(1).and_then(|i| BACKOFF.get(i)) {
                tokio::time::sleep(*pause).await;
            }
            match self.attempt(body, input).await {
                Ok(response) => return response,
                Err(why) => {
                    self.inner.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    *lock(&self.inner.last_error) = Some(why);
                }
            }
        }
        self.inner.failures.fetch_add(1, Ordering::Relaxed);
        FALLBACK_RESPONSE.to_string()
    }

    /// One request; `Err` says why it does not count.
    async fn attempt(&self, body: &Value, input: &AgentInput) -> Result<String, String> {
        // The semaphore is never closed, so this only fails if that changes.
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| format!("concurrency limit: {e}"))?;
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let mut request = self.inner.client.post(self.inner.url.clone()).json(body);
        if let Some(key) = &self.inner.api_key {
            request = request.bearer_auth(key);
        }
        let reply = request.send().await.map_err(|e| describe(&e))?;
        let status = reply.status();
        if !status.is_success() {
            return Err(format!("endpoint answered {status}"));
        }
        let reply: Value = reply.json().await.map_err(|e| describe(&e))?;
        let content = reply
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or("reply has no choices[0].message.content string")?;
        validate(content, input)
    }
}

/// The user message: everything the model needs about this order.
fn user_prompt(input: &AgentInput) -> String {
    let mut timeline = String::new();
    for (event_type, ts) in &input.timeline {
        timeline.push_str(&format!("- {event_type} at {ts}\n"));
    }
    format!(
        "Order {order} at location {location}.\n\
         Timeline (in sequence order):\n{timeline}\
         Delivery time: {minutes:.1} minutes.\n\
         Delivery-time percentiles at this location over the previous 24 hours: \
         P50 {p50:.1}, P75 {p75:.1}, P99 {p99:.1} minutes.\n\
         Order revenue: ${revenue:.2}.\n\
         The deterministic policy suggests: {policy}\n\
         Answer with the JSON object only.",
        order = input.order_id,
        location = input.location,
        minutes = input.delivery_minutes,
        p50 = input.p50,
        p75 = input.p75,
        p99 = input.p99,
        revenue = input.order_revenue_usd,
        policy = input.policy_response,
    )
}

/// Checks the model's answer and re-serializes it as the one-line `agent_response`.
///
/// The content must be (after trimming, and inside an optional Markdown code fence) a JSON
/// object with `refund_class` in none|partial|full, `refund_usd` a number in
/// `[0, revenue + 0.005]`, and a non-empty `reason` string. Other keys are dropped.
fn validate(content: &str, input: &AgentInput) -> Result<String, String> {
    let doc: Value =
        serde_json::from_str(unfence(content)).map_err(|e| format!("reply is not JSON: {e}"))?;
    let object = doc.as_object().ok_or("reply is not a JSON object")?;
    let class = object
        .get("refund_class")
        .and_then(Value::as_str)
        .filter(|c| matches!(*c, "none" | "partial" | "full"))
        .ok_or("refund_class is not one of none, partial, full")?;
    let usd = object
        .get("refund_usd")
        .and_then(Value::as_f64)
        .ok_or("refund_usd is not a number")?;
    if !(0.0..=input.order_revenue_usd + REVENUE_SLACK_USD).contains(&usd) {
        return Err(format!(
            "refund_usd {usd} is outside 0..={}",
            input.order_revenue_usd
        ));
    }
    let reason = object
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty())
        .ok_or("reason is not a non-empty string")?;
    Ok(response_json(
        class,
        usd,
        reason,
        input.delivery_minutes,
        input.p75,
        input.p99,
    ))
}

/// The `agent_response` document in the policy's layout (`caspers_dataflows::refunds`): the
/// original's three keys, then delivery_minutes, p75 and p99.
fn response_json(
    class: &str,
    usd: f64,
    reason: &str,
    delivery_minutes: f64,
    p75: f64,
    p99: f64,
) -> String {
    fn num(x: f64) -> String {
        if x.is_finite() {
            format!("{x:?}")
        } else {
            "null".into()
        }
    }
    fn text(s: &str) -> String {
        // Serializing a str cannot fail; the fallback keeps this panic-free regardless.
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
    format!(
        "{{\"refund_class\": {}, \"refund_usd\": {}, \"reason\": {}, \"delivery_minutes\": {}, \"p75\": {}, \"p99\": {}}}",
        text(class),
        num(usd),
        text(reason),
        num(delivery_minutes),
        num(p75),
        num(p99)
    )
}

/// The text inside a ```` ``` ```` or ```` ```json ```` fence, or the trimmed text.
fn unfence(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let rest = rest
        .strip_prefix("json")
        .or_else(|| rest.strip_prefix("JSON"))
        .unwrap_or(rest);
    rest.strip_suffix("```").map_or(trimmed, str::trim)
}

/// One level of a reqwest error, naming timeouts and connection failures plainly.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        format!("cannot connect: {error}")
    } else if error.is_decode() {
        "reply body is not JSON".into()
    } else {
        error.to_string()
    }
}

/// 64-bit FNV-1a: stable across runs and Rust versions, unlike `DefaultHasher`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Locks a mutex whose data stays valid even if a holder panicked (counters, a cache of
/// complete entries), so a poisoned lock is used rather than propagated.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AgentInput {
        AgentInput {
            order_id: "o-1".into(),
            location: "sanfrancisco".into(),
            timeline: vec![],
            delivery_minutes: 50.0,
            p50: 30.0,
            p75: 35.0,
            p99: 48.0,
            order_revenue_usd: 20.0,
            policy_response: String::new(),
        }
    }

    #[test]
    fn unfence_strips_whitespace_and_code_fences() {
        assert_eq!(unfence("  {\"a\":1}\n"), "{\"a\":1}");
        assert_eq!(unfence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(unfence("\n```\n{\"a\":1}\n```\n"), "{\"a\":1}");
        // An unclosed fence is left alone, and then fails to parse.
        assert_eq!(unfence("```json\n{}"), "```json\n{}");
    }

    #[test]
    fn validate_accepts_good_answers_and_rewrites_them() {
        let ok = validate(
            r#"{"reason":"late","refund_usd":20.004,"refund_class":"full","extra":1}"#,
            &input(),
        );
        assert_eq!(
            ok.as_deref(),
            Ok(
                r#"{"refund_class": "full", "refund_usd": 20.004, "reason": "late", "delivery_minutes": 50.0, "p75": 35.0, "p99": 48.0}"#
            )
        );
        let integer = validate(
            r#"{"refund_class":"none","refund_usd":0,"reason":"on \"time\""}"#,
            &input(),
        );
        assert_eq!(
            integer.as_deref(),
            Ok(
                r#"{"refund_class": "none", "refund_usd": 0.0, "reason": "on \"time\"", "delivery_minutes": 50.0, "p75": 35.0, "p99": 48.0}"#
            )
        );
    }

    #[test]
    fn validate_rejects_every_broken_field() {
        for bad in [
            "",
            "not json",
            "[1, 2]",
            r#"{"refund_class":"error","refund_usd":0,"reason":"x"}"#,
            r#"{"refund_class":"none","refund_usd":"0","reason":"x"}"#,
            r#"{"refund_class":"none","refund_usd":-0.01,"reason":"x"}"#,
            r#"{"refund_class":"full","refund_usd":20.01,"reason":"x"}"#,
            r#"{"refund_class":"none","refund_usd":0,"reason":"  "}"#,
            r#"{"refund_class":"none","refund_usd":0}"#,
            r#"{"refund_usd":0,"reason":"x"}"#,
        ] {
            assert!(validate(bad, &input()).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn new_rejects_bad_settings() {
        let good = LlmConfig::new("http://127.0.0.1:9/v1/chat/completions", "m");
        assert!(LlmAgent::new(good.clone()).is_ok());
        let https = LlmConfig {
            url: "https://api.example.com/v1/chat/completions".into(),
            ..good.clone()
        };
        assert!(matches!(LlmAgent::new(https), Err(LlmError::BadUrl { .. })));
        let garbage = LlmConfig {
            url: "not a url".into(),
            ..good.clone()
        };
        assert!(matches!(
            LlmAgent::new(garbage),
            Err(LlmError::BadUrl { .. })
        ));
        for bad in [
            LlmConfig {
                model: " ".into(),
                ..good.clone()
            },
            LlmConfig {
                concurrency: 0,
                ..good.clone()
            },
            LlmConfig {
                timeout: Duration::ZERO,
                ..good.clone()
            },
        ] {
            assert!(matches!(LlmAgent::new(bad), Err(LlmError::BadSetting(_))));
        }
    }

    #[test]
    fn debug_never_prints_the_key() {
        let config = LlmConfig {
            api_key: Some("sk-secret".into()),
            ..LlmConfig::new("http://127.0.0.1:9/", "m")
        };
        assert!(!format!("{config:?}").contains("sk-secret"));
        let agent = LlmAgent::new(config);
        assert!(agent.is_ok_and(|a| !format!("{a:?}").contains("sk-secret")));
    }
}
