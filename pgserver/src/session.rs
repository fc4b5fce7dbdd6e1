//! Per-connection state: `SET` variables, `statement_timeout`, and the
//! cancel signal a CancelRequest fires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::parse_duration_ms;

/// Settings `SHOW` answers before any `SET` (lowercase names).
pub(crate) const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("server_version", crate::auth::SERVER_VERSION),
    ("server_version_num", crate::auth::SERVER_VERSION_NUM),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("datestyle", "ISO, MDY"),
    ("intervalstyle", "postgres"),
    ("timezone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("search_path", "\"$user\", public"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_read_only", "on"),
    ("default_transaction_read_only", "on"),
    ("statement_timeout", "0"),
    ("lock_timeout", "0"),
    ("idle_in_transaction_session_timeout", "0"),
    ("max_identifier_length", "63"),
    ("extra_float_digits", "1"),
    ("application_name", ""),
    ("is_superuser", "off"),
    ("lc_collate", "C.UTF-8"),
    ("lc_ctype", "C.UTF-8"),
    ("lc_messages", "C.UTF-8"),
    ("lc_monetary", "C.UTF-8"),
    ("lc_numeric", "C.UTF-8"),
    ("lc_time", "C.UTF-8"),
    ("bytea_output", "hex"),
    ("client_min_messages", "notice"),
    ("max_index_keys", "32"),
    ("block_size", "8192"),
    ("jit", "off"),
    ("max_connections", "100"),
    ("work_mem", "4MB"),
    ("ssl", "off"),
];

/// The default of setting `name` (case-insensitive).
pub(crate) fn default_setting(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    DEFAULT_SETTINGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}

/// Fired by a CancelRequest; a running statement checks it between batches
/// and while waiting for the next one.
#[derive(Debug, Default)]
pub(crate) struct CancelSignal {
    generation: AtomicU64,
    notify: Notify,
}

impl CancelSignal {
    /// The current generation; a statement remembers it when it starts.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Cancels whatever statement is running now.
    pub(crate) fn cancel(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Resolves when [`CancelSignal::cancel`] is called after `since`.
    pub(crate) async fn cancelled(&self, since: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.generation() != since {
                return;
            }
            notified.await;
        }
    }
}

/// One connection's session.
#[derive(Debug)]
pub(crate) struct Session {
    settings: Mutex<HashMap<String, String>>,
    default_timeout_ms: u64,
    /// This connection's cancel signal (shared with the cancel registry).
    pub(crate) cancel: std::sync::Arc<CancelSignal>,
}

impl Session {
    pub(crate) fn new(default_timeout_ms: u64, cancel: std::sync::Arc<CancelSignal>) -> Self {
        Self {
            settings: Mutex::new(HashMap::new()),
            default_timeout_ms,
            cancel,
        }
    }

    /// `SET name = value`.
    pub(crate) fn set(&self, name: &str, value: &str) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        s.insert(name.to_ascii_lowercase(), value.to_owned());
    }

    /// `RESET name` / `SET name TO DEFAULT`.
    pub(crate) fn reset(&self, name: &str) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        s.remove(&name.to_ascii_lowercase());
    }

    /// `RESET ALL` / `DISCARD ALL`.
    pub(crate) fn reset_all(&self) {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// `SHOW name`, or `None` for an unknown setting.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        if let Some(v) = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
        {
            return Some(v.clone());
        }
        if name == "statement_timeout" {
            return Some(self.default_timeout_ms.to_string());
        }
        default_setting(&name).map(str::to_owned)
    }

    /// The statement timeout in force, if any.
    pub(crate) fn statement_timeout(&self) -> Option<Duration> {
        let ms = self
            .get("statement_timeout")
            .and_then(|v| parse_duration_ms(&v))
            .unwrap_or(0);
        (ms > 0).then(|| Duration::from_millis(ms))
    }
}
