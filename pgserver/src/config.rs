//! [`ServerConfig`]: everything `trail serve` can be told.

use std::path::PathBuf;

/// How the server listens, authenticates and bounds its resources.
///
/// Plain fields so the CLI can fill it from flags and environment
/// variables; [`ServerConfig::default`] is a loopback-only development
/// server.
///
/// | field | flag (suggested) | default |
/// |---|---|---|
/// | `listen` | `--listen` | `127.0.0.1:5433` |
/// | `tls_cert`, `tls_key` | `--tls-cert`, `--tls-key` (PEM) | none: plaintext only |
/// | `password` | `TRAIL_PASSWORD` | none |
/// | `users_file` | `--users FILE` | none |
/// | `max_connections` | `--max-connections` | 100 |
/// | `memory_limit` | `--memory-limit` (bytes; see [`parse_size`]) | unbounded |
/// | `statement_timeout_ms` | `--statement-timeout` (ms; 0 = none) | 0 |
/// | `max_message_bytes` | – | 64 MiB |
///
/// Authentication: when neither `password` nor `users_file` is set the
/// server trusts every client but accepts only loopback connections (and
/// logs a warning); otherwise every connection must pass SCRAM-SHA-256.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on, `host:port`.
    pub listen: String,
    /// PEM certificate chain for TLS; TLS is offered when both this and
    /// `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for TLS.
    pub tls_key: Option<PathBuf>,
    /// One password for every user name (from `TRAIL_PASSWORD`).
    pub password: Option<String>,
    /// A users file: one `user:password` or `user:SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>`
    /// (a PostgreSQL `pg_authid.rolpassword` verifier) per line; `#` starts a comment.
    pub users_file: Option<PathBuf>,
    /// Connections served at once; further clients get SQLSTATE 53300.
    pub max_connections: usize,
    /// Bytes of memory all running queries may hold together (DataFusion's
    /// memory pool); a query needing more fails with SQLSTATE 53200.
    pub memory_limit: Option<usize>,
    /// Default `statement_timeout` in milliseconds (0 = none); clients may
    /// `SET statement_timeout` per session.
    pub statement_timeout_ms: u64,
    /// Largest frontend message accepted; a longer one closes the connection.
    pub max_message_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5433".to_owned(),
            tls_cert: None,
            tls_key: None,
            password: None,
            users_file: None,
            max_connections: 100,
            memory_limit: None,
            statement_timeout_ms: 0,
            max_message_bytes: 64 << 20,
        }
    }
}

/// Parses a byte size: `1073741824`, `512M`, `4G`, `4GiB`, `100kb`.
///
/// Suitable as a clap `value_parser`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected e.g. 512M or 4G"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("invalid size unit {other:?} in {text:?}")),
    };
    Ok((number * multiplier) as usize)
}

/// Parses a PostgreSQL duration setting (`statement_timeout`): a bare
/// number is milliseconds; units `us`, `ms`, `s`, `min`, `h`, `d`.
pub(crate) fn parse_duration_ms(text: &str) -> Option<u64> {
    let t = text.trim().trim_matches('\'').trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().ok()?;
    let ms = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => number,
        "us" => number / 1000.0,
        "s" => number * 1000.0,
        "min" => number * 60_000.0,
        "h" => number * 3_600_000.0,
        "d" => number * 86_400_000.0,
        _ => return None,
    };
    Some(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert!(parse_size("4X").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("150"), Some(150));
        assert_eq!(parse_duration_ms("'2s'"), Some(2000));
        assert_eq!(parse_duration_ms("1min"), Some(60_000));
        assert_eq!(parse_duration_ms("soon"), None);
    }
}
