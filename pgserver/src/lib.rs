//! # trail-pgserver
//!
//! Trail over the PostgreSQL wire protocol (pgwire 0.42): psql, JDBC, ODBC,
//! psycopg, SQLAlchemy, asyncpg, node-postgres and R connect to a Trail data
//! directory as if it were a read-only PostgreSQL 15.
//!
//! ```text
//!  client ──TCP──► server (limit, loopback policy, TLS, frame guard)
//!                    │
//!                    ├─ auth: SCRAM-SHA-256 (users file / TRAIL_PASSWORD) or loopback trust
//!                    ├─ query: simple + extended protocol, SET/SHOW/BEGIN…, COPY TO STDOUT
//!                    │     ├─ catalog queries ─► pg_catalog / information_schema emulation
//!                    │     └─ everything else ─► Trail::dataframe (Heap/BigQuery dialect)
//!                    └─ execution: server SessionState (memory pool), cancel, statement_timeout
//! ```
//!
//! Start it with [`serve`]; see [`ServerConfig`] for every knob.
//!
//! ```no_run
//! # async fn run() -> trail_pgserver::Result<()> {
//! let trail = trail_engine::Trail::open("./trail-data").await.unwrap();
//! trail_pgserver::serve(trail, trail_pgserver::ServerConfig::default()).await
//! # }
//! ```

mod auth;
mod catalog;
mod config;
mod error;
mod query;
mod server;
mod session;
mod types;

use std::collections::HashSet;
use std::io::BufReader;
use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use pgwire::tokio::tokio_rustls::rustls;
use pgwire::tokio::TlsAcceptor;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use trail_engine::Trail;

pub use config::{parse_size, ServerConfig};
pub use error::{Error, Result};
pub use types::PG_TYPE_METADATA;

use crate::auth::{TrailStartup, UserDb};
use crate::query::{QueryEngine, TrailHandler};
use crate::server::{CancelRegistry, Shared};

/// Serves `trail` on `config.listen` until the process ends.
pub async fn serve(trail: Trail, config: ServerConfig) -> Result<()> {
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    serve_listener(trail, config, listener).await
}

/// Serves `trail` on an already bound listener (tests bind port 0).
/// `config.listen` is ignored.
pub async fn serve_listener(
    trail: Trail,
    config: ServerConfig,
    listener: TcpListener,
) -> Result<()> {
    let shared = Arc::new(build(trail, &config)?);
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    if shared.startup.requires_password() {
        tracing::info!(%addr, tls = shared.tls.is_some(), "serving PostgreSQL protocol (SCRAM-SHA-256)");
    } else {
        tracing::warn!(
            %addr,
            "no password configured (TRAIL_PASSWORD or a users file): accepting loopback connections only, without authentication"
        );
    }
    server::accept_loop(listener, shared)
        .await
        .map_err(|source| Error::Listen { addr, source })
}

fn config_error(path: &std::path::Path, message: impl ToString) -> Error {
    Error::Config {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn tls_acceptor(config: &ServerConfig) -> Result<Option<(TlsAcceptor, Vec<u8>)>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert_path), Some(key_path)) = (&config.tls_cert, &config.tls_key) else {
        if config.tls_cert.is_some() || config.tls_key.is_some() {
            return Err(Error::Config {
                path: "--tls-cert/--tls-key".to_owned(),
                message: "both a certificate and a key are needed for TLS".to_owned(),
            });
        }
        return Ok(None);
    };
    let cert_pem = std::fs::read(cert_path).map_err(|e| config_error(cert_path, e))?;
    let certs = CertificateDer::pem_reader_iter(BufReader::new(cert_pem.as_slice()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(cert_path, e))?;
    if certs.is_empty() {
        return Err(config_error(cert_path, "no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| config_error(key_path, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(cert_path, e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| config_error(key_path, e))?;
    Ok(Some((TlsAcceptor::from(Arc::new(tls)), cert_pem)))
}

fn build(trail: Trail, config: &ServerConfig) -> Result<Shared> {
    let tls = tls_acceptor(config)?;
    let users = UserDb::from_config(config)?;
    let startup = TrailStartup::new(users, tls.as_ref().map(|(_, pem)| pem.as_slice()))?;

    // The server's own session state: the engine's functions and tables, a
    // catalog list that adds pg_catalog/information_schema, and a runtime
    // that shares the engine's object stores but has the server's memory pool.
    let engine_state = trail.session().state();
    let mut runtime = RuntimeEnvBuilder::from_runtime_env(engine_state.runtime_env());
    if let Some(limit) = config.memory_limit {
        runtime = runtime.with_memory_pool(trail_engine::memory_pool(limit));
    }
    let runtime = runtime.build_arc()?;
    let mut session_config = engine_state.config().clone();
    let default_catalog = session_config.options().catalog.default_catalog.clone();
    session_config.options_mut().catalog.information_schema = false;
    // Never let the builder register a fresh default catalog: through the
    // shared catalog list it would replace the engine's tables.
    session_config
        .options_mut()
        .catalog
        .create_default_catalog_and_schema = false;
    let engine_catalog = engine_state.catalog_list().catalog(&default_catalog);
    let catalogs = Arc::new(catalog::TrailCatalogList::new(
        engine_state.catalog_list().clone(),
        default_catalog,
    ));
    let state = SessionStateBuilder::new_from_existing(engine_state)
        .with_config(session_config)
        .with_runtime_env(runtime)
        .with_catalog_list(catalogs)
        .build();
    let ctx = SessionContext::new_with_state(state);
    catalog::functions::register(&ctx, "trail", engine_catalog);
    let functions: HashSet<String> = catalog::functions::functions("trail".to_owned(), None)
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    let engine = Arc::new(QueryEngine::new(trail, ctx.state(), functions));

    Ok(Shared {
        handler: Arc::new(TrailHandler::new(engine)),
        startup: Arc::new(startup),
        cancels: Arc::new(CancelRegistry::default()),
        tls: tls.map(|(acceptor, _)| acceptor),
        slots: Arc::new(Semaphore::new(config.max_connections.max(1))),
        max_message_bytes: config.max_message_bytes,
        statement_timeout_ms: config.statement_timeout_ms,
    })
}
