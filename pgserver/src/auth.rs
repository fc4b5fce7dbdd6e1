//! Startup and authentication: SCRAM-SHA-256 against configured users, or
//! trust for loopback-only development servers.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth, ScramSecret};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, AuthSource,
    LoginInfo, Password, ServerParameterProvider, StartupHandler,
};
use pgwire::api::{ClientInfo, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::config::ServerConfig;
use crate::error::{Error, Result};

/// The `server_version` clients see; drivers pick their catalog queries by it.
pub(crate) const SERVER_VERSION: &str = "15.6";
/// `SHOW server_version_num`.
pub(crate) const SERVER_VERSION_NUM: &str = "150006";

/// `version()`: shaped like PostgreSQL's so version-sniffing drivers
/// (SQLAlchemy, pgjdbc) parse it.
pub(crate) fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (Trail {}) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION")
    )
}

const SCRAM_ITERATIONS: usize = 4096;

/// The parameters sent after authentication (`ParameterStatus`).
#[derive(Debug, Default)]
pub(crate) struct TrailParameters;

impl ServerParameterProvider for TrailParameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let mut p = HashMap::new();
        let mut set = |k: &str, v: &str| {
            p.insert(k.to_owned(), v.to_owned());
        };
        set("server_version", SERVER_VERSION);
        set("server_encoding", "UTF8");
        set("client_encoding", "UTF8");
        set("DateStyle", "ISO, MDY");
        set("IntervalStyle", "postgres");
        set("TimeZone", "UTC");
        set("integer_datetimes", "on");
        set("standard_conforming_strings", "on");
        set("is_superuser", "off");
        set("default_transaction_read_only", "on");
        set("in_hot_standby", "off");
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        set("session_authorization", &user);
        let app = client
            .metadata()
            .get("application_name")
            .cloned()
            .unwrap_or_default();
        set("application_name", &app);
        Some(p)
    }
}

/// Users and their SCRAM secrets.
#[derive(Debug, Default)]
pub(crate) struct UserDb {
    users: HashMap<String, (Vec<u8>, Vec<u8>)>,
    any_user: Option<(Vec<u8>, Vec<u8>)>,
}

fn salted(password: &str) -> (Vec<u8>, Vec<u8>) {
    let salt: Vec<u8> = (0..16).map(|_| rand_byte()).collect();
    let hashed = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    (salt, hashed)
}

/// A salt byte: not secret, only needs to differ between users and runs.
fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u8
}

impl UserDb {
    /// The users from `config`, or `None` when no authentication is configured.
    pub(crate) fn from_config(config: &ServerConfig) -> Result<Option<Self>> {
        let mut db = UserDb::default();
        if let Some(password) = &config.password {
            db.any_user = Some(salted(password));
        }
        if let Some(path) = &config.users_file {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((user, password)) = line.split_once(':') else {
                    return Err(Error::Config {
                        path: path.display().to_string(),
                        message: format!("line {}: expected user:password", n + 1),
                    });
                };
                db.users.insert(user.trim().to_owned(), salted(password));
            }
        }
        if db.any_user.is_none() && db.users.is_empty() {
            Ok(None)
        } else {
            Ok(Some(db))
        }
    }
}

#[async_trait]
impl AuthSource for UserDb {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let (salt, hashed) = self
            .users
            .get(user)
            .or(self.any_user.as_ref())
            .ok_or_else(|| PgWireError::InvalidPassword(user.to_owned()))?;
        Ok(Password::new(Some(salt.clone()), hashed.clone()))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let password = self.get_password(login).await?;
        Ok((
            ScramSecret::SaltedPassword {
                salt: password.salt().unwrap_or_default().to_vec(),
                salted_password: password.password().to_vec(),
            },
            None,
        ))
    }
}

/// Trust: every user is accepted (the listener admits loopback peers only).
#[derive(Debug, Default)]
pub(crate) struct TrustStartup {
    pids: RandomPidSecretKeyGenerator,
}

/// The startup handler in use: SCRAM when users are configured, else trust.
pub(crate) enum TrailStartup {
    Trust(TrustStartup),
    Scram(Box<SASLAuthStartupHandler<TrailParameters>>),
}

impl Debug for TrailStartup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrailStartup::Trust(_) => f.write_str("TrailStartup::Trust"),
            TrailStartup::Scram(_) => f.write_str("TrailStartup::Scram"),
        }
    }
}

impl TrailStartup {
    /// Builds the handler; `cert_pem` enables SCRAM-SHA-256-PLUS channel binding.
    pub(crate) fn new(users: Option<UserDb>, cert_pem: Option<&[u8]>) -> Result<Self> {
        let Some(users) = users else {
            return Ok(TrailStartup::Trust(TrustStartup::default()));
        };
        let mut scram = ScramAuth::new(Arc::new(users));
        scram.set_iterations(SCRAM_ITERATIONS);
        if let Some(pem) = cert_pem {
            scram
                .configure_certificate(pem)
                .map_err(|e| Error::Config {
                    path: "--tls-cert".to_owned(),
                    message: e.to_string(),
                })?;
        }
        let handler = SASLAuthStartupHandler::new(Arc::new(TrailParameters)).with_scram(scram);
        Ok(TrailStartup::Scram(Box::new(handler)))
    }

    /// Whether clients must authenticate.
    pub(crate) fn requires_password(&self) -> bool {
        matches!(self, TrailStartup::Scram(_))
    }
}

#[async_trait]
impl StartupHandler for TrailStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            TrailStartup::Scram(h) => h.on_startup(client, message).await,
            TrailStartup::Trust(t) => {
                if let PgWireFrontendMessage::Startup(ref startup) = message {
                    protocol_negotiation(client, startup).await?;
                    save_startup_parameters_to_metadata(client, startup);
                    let (pid, key) = t.pids.generate(client);
                    client.set_pid_and_secret_key(pid, key);
                    finish_authentication(client, &TrailParameters).await?;
                }
                Ok(())
            }
        }
    }
}
