//! The Refund Manager: `caspers serve`, an HTTP API and one embedded web page over the
//! refund tables in PostgreSQL.
//!
//! People review the pipeline's refund recommendations (`<RECS_SCHEMA>.pg_recommendations`)
//! and record their decisions (`<REFUNDS_SCHEMA>.refund_decisions`, created at startup when
//! missing). Unlike the original FastAPI app, which read the latest 1,000 rows and paged them
//! in memory, every filter, count and page is computed by PostgreSQL.
//!
//! ```text
//! GET  /                               the page (HTML/CSS/JS embedded in the binary)
//! GET  /api/summary?include_zero=      counts and totals for the summary cards
//! GET  /api/recommendations?limit=&offset=&include_zero=&status=&refund_class=&q=
//! POST /api/refunds                    record a decision → 201 with the stored row
//! GET  /api/orders/{order_id}/events   the order's timeline (pings left out)
//! GET  /healthz                        database reachable?
//! GET  /metrics                        Prometheus text: requests by route/status, latency
//! ```
//!
//! - [`error`]: the API's error type and its JSON responses.
//! - [`params`]: query-string and body validation (every 422 names its field).
//! - [`store`]: the SQL, parameterized only; schema names are validated identifiers.
//! - [`routes`]: the router, handlers, bearer-token check and the page.
//! - [`metrics`]: request counters and the latency histogram.
//!
//! Tests bind port 0 and call [`serve_with`] (mini-redis `start_server` style).

pub mod error;
pub mod metrics;
pub mod model;
pub mod params;
pub mod routes;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

/// The connection pool the server runs on.
pub type Pool = deadpool_postgres::Pool;

/// Largest request body accepted, in bytes; a refund decision is a few hundred.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// `caspers serve`: the Refund Manager API and page.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// PostgreSQL connection URL, e.g. `postgres://caspers@127.0.0.1:5432/postgres`.
    #[arg(long, value_name = "URL")]
    pub pg: String,
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Most database connections held at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub pool_size: usize,
}

/// Why the configuration or the database connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A schema name from the environment is not a plain SQL identifier.
    #[error("{var}={value:?} is not a plain identifier (letters, digits, _; at most 63 bytes)")]
    InvalidSchema {
        /// The environment variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The `--pg` URL does not parse.
    #[error("invalid PostgreSQL URL")]
    InvalidUrl(#[source] tokio_postgres::Error),
    /// The pool could not be built.
    #[error("could not build the connection pool")]
    Pool(#[source] deadpool_postgres::BuildError),
}

/// Server settings that come from the environment (`REFUNDS_SCHEMA`, `RECS_SCHEMA`,
/// `CASPERS_APP_TOKEN`, `DEBUG`); tests build them directly so they never touch the
/// process environment.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Schema of `refund_decisions`; a validated plain identifier.
    pub refunds_schema: String,
    /// Schema of `pg_recommendations` and `order_events`; a validated plain identifier.
    pub recs_schema: String,
    /// When set, every `/api` request needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Detailed error messages (the error chain) in 500 responses.
    pub debug: bool,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            refunds_schema: "refunds".into(),
            recs_schema: "recommender".into(),
            token: None,
            debug: false,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

impl AppConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let schema = |var: &'static str, default: &str| {
            let value = lookup(var).unwrap_or_else(|| default.to_string());
            if is_identifier(&value) {
                Ok(value)
            } else {
                Err(ConfigError::InvalidSchema { var, value })
            }
        };
        Ok(AppConfig {
            refunds_schema: schema("REFUNDS_SCHEMA", "refunds")?,
            recs_schema: schema("RECS_SCHEMA", "recommender")?,
            // An empty token would make `Bearer ` a valid credential: treat it as unset.
            token: lookup("CASPERS_APP_TOKEN").filter(|t| !t.is_empty()),
            debug: lookup("DEBUG").is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            }),
            body_limit: DEFAULT_BODY_LIMIT,
        })
    }
}

/// Whether `s` is a plain SQL identifier we may interpolate (quoted) into statements: a letter
/// or `_`, then letters, digits or `_`, at most 63 bytes (PostgreSQL's NAMEDATALEN - 1).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

/// Builds a connection pool for `url`, a `postgres://` URL or `key=value` string (no
/// connection is made until the first request).
pub fn connect(url: &str, pool_size: usize) -> Result<Pool, ConfigError> {
    pool(url.parse().map_err(ConfigError::InvalidUrl)?, pool_size)
}

/// Builds a connection pool from a parsed configuration.
pub fn pool(mut pg: tokio_postgres::Config, pool_size: usize) -> Result<Pool, ConfigError> {
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(Duration::from_secs(5));
    }
    let manager = deadpool_postgres::Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        // A request waits at most this long for a free connection, then gets a 500/503
        // instead of hanging while the database is away.
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(ConfigError::Pool)
}

/// Serves the API and page on `listener` until `shutdown` completes, with the configuration
/// read from the environment. Creates `refund_decisions` first when it is missing.
pub async fn serve(
    listener: tokio::net::TcpListener,
    pool: Pool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, pool, AppConfig::from_env()?, shutdown).await
}

/// [`serve`] with an explicit configuration.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    pool: Pool,
    config: AppConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = store::Store::new(pool, &config);
    store
        .migrate()
        .await
        .context("creating the refund_decisions table")?;
    let state = routes::AppState {
        store: Arc::new(store),
        config: Arc::new(config),
        metrics: Arc::new(metrics::Metrics::default()),
    };
    axum::serve(listener, routes::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}

/// `caspers serve`: connects, listens and serves until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = AppConfig::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("caspers-serve")
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let pool = connect(&args.pg, args.pool_size)?;
        // Fail at startup, not at the first request, when the database is unreachable.
        drop(pool.get().await.context("connecting to PostgreSQL")?);
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "caspers serve: listening on http://{addr}/ (recommendations from {}, decisions in {}{})",
            config.recs_schema,
            config.refunds_schema,
            if config.token.is_some() {
                "; /api needs the bearer token"
            } else {
                ""
            }
        );
        serve_with(listener, pool, config, shutdown_signal()).await
    })
}

/// Completes on Ctrl-C or, on Unix, SIGTERM (what process supervisors and scripts send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    eprintln!("caspers serve: shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["refunds", "recommender", "_x1", "A_b"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1x", "a-b", "a.b", "a\"b", "a b", "ré", &"x".repeat(64)] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn config_from_lookup() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = AppConfig::from_lookup(env(&[])).unwrap();
        assert_eq!(
            (c.refunds_schema.as_str(), c.recs_schema.as_str()),
            ("refunds", "recommender")
        );
        assert!(c.token.is_none() && !c.debug);
        let c = AppConfig::from_lookup(env(&[
            ("REFUNDS_SCHEMA", "r2"),
            ("RECS_SCHEMA", "rec2"),
            ("CASPERS_APP_TOKEN", "s3cret"),
            ("DEBUG", "TRUE"),
        ]))
        .unwrap();
        assert_eq!(
            (c.refunds_schema.as_str(), c.recs_schema.as_str()),
            ("r2", "rec2")
        );
        assert_eq!(c.token.as_deref(), Some("s3cret"));
        assert!(c.debug);
        assert!(AppConfig::from_lookup(env(&[("CASPERS_APP_TOKEN", "")]))
            .unwrap()
            .token
            .is_none());
        let err = AppConfig::from_lookup(env(&[("RECS_SCHEMA", "x; drop table y")])).unwrap_err();
        assert!(err.to_string().starts_with("RECS_SCHEMA="), "{err}");
    }
}
