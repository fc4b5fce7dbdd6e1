//! The server's error type and the one place that maps errors to SQLSTATE.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use pgwire::error::{ErrorInfo, PgWireError};

/// Result alias for the server.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything starting or running the server can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address from [`crate::ServerConfig::listen`].
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A TLS certificate, key or users file could not be read or parsed.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The DataFusion session could not be set up.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

/// SQLSTATE codes the server answers with (PostgreSQL appendix A).
pub(crate) mod sqlstate {
    pub(crate) const SYNTAX_ERROR: &str = "42601";
    pub(crate) const UNDEFINED_TABLE: &str = "42P01";
    pub(crate) const UNDEFINED_COLUMN: &str = "42703";
    pub(crate) const UNDEFINED_FUNCTION: &str = "42883";
    pub(crate) const DATATYPE_MISMATCH: &str = "42804";
    pub(crate) const QUERY_CANCELED: &str = "57014";
    pub(crate) const OUT_OF_MEMORY: &str = "53200";
    pub(crate) const TOO_MANY_CONNECTIONS: &str = "53300";
    pub(crate) const INVALID_AUTHORIZATION: &str = "28000";
    pub(crate) const READ_ONLY_TRANSACTION: &str = "25006";
    pub(crate) const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub(crate) const DIVISION_BY_ZERO: &str = "22012";
    pub(crate) const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub(crate) const DATA_EXCEPTION: &str = "22000";
    pub(crate) const PROTOCOL_VIOLATION: &str = "08P01";
    pub(crate) const INVALID_PARAMETER_VALUE: &str = "22023";
    pub(crate) const UNDEFINED_PARAMETER: &str = "42704";
    pub(crate) const INTERNAL_ERROR: &str = "XX000";
}

/// Why a running statement stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// A CancelRequest arrived for this connection.
    Cancel,
    /// `statement_timeout` elapsed.
    Timeout,
}

/// Builds an `ERROR` with `code` and `message`.
pub(crate) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        code.to_owned(),
        message.into(),
    )))
}

/// The interruption as the error PostgreSQL sends for it.
pub(crate) fn interrupt_error(interrupt: Interrupt) -> PgWireError {
    let message = match interrupt {
        Interrupt::Cancel => "canceling statement due to user request",
        Interrupt::Timeout => "canceling statement due to statement timeout",
    };
    user_error(sqlstate::QUERY_CANCELED, message)
}

/// `cannot execute {what} in a read-only transaction` (25006).
pub(crate) fn read_only_error(what: &str) -> PgWireError {
    user_error(
        sqlstate::READ_ONLY_TRANSACTION,
        format!("cannot execute {what} in a read-only transaction: Trail serves data read-only"),
    )
}

/// The one mapping from an engine error to a client-facing SQLSTATE error.
///
/// Every query error passes through here, so a client sees the same code for
/// the same mistake whichever protocol path produced it.
pub(crate) fn to_pg_error(error: &DataFusionError) -> PgWireError {
    let (code, message) = classify(error);
    user_error(code, message)
}

/// An engine-crate error, mapped like [`to_pg_error`].
pub(crate) fn engine_error(error: trail_engine::Error) -> PgWireError {
    match error {
        trail_engine::Error::DataFusion(e) => to_pg_error(&e),
        other => user_error(sqlstate::INTERNAL_ERROR, other.to_string()),
    }
}

fn classify(error: &DataFusionError) -> (&'static str, String) {
    let root = error.find_root();
    let message = match root {
        DataFusionError::SQL(e, _) => match e.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
                format!("syntax error: {m}")
            }
            other => other.to_string(),
        },
        other => strip_prefixes(&other.to_string()),
    };
    let code = match root {
        DataFusionError::SQL(e, _) => match e.as_ref() {
            ParserError::RecursionLimitExceeded => "54001",
            _ => sqlstate::SYNTAX_ERROR,
        },
        DataFusionError::ResourcesExhausted(_) => sqlstate::OUT_OF_MEMORY,
        DataFusionError::SchemaError(e, _) => {
            use datafusion::common::SchemaError;
            match e.as_ref() {
                SchemaError::FieldNotFound { .. } => sqlstate::UNDEFINED_COLUMN,
                SchemaError::AmbiguousReference { .. } => "42702",
                SchemaError::DuplicateQualifiedField { .. }
                | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
            }
        }
        DataFusionError::ArrowError(e, _) => match e.as_ref() {
            ArrowError::DivideByZero => sqlstate::DIVISION_BY_ZERO,
            ArrowError::CastError(_) | ArrowError::ParseError(_) => {
                sqlstate::INVALID_TEXT_REPRESENTATION
            }
            ArrowError::MemoryError(_) => sqlstate::OUT_OF_MEMORY,
            _ => sqlstate::DATA_EXCEPTION,
        },
        DataFusionError::NotImplemented(_) => sqlstate::FEATURE_NOT_SUPPORTED,
        DataFusionError::Plan(m) => plan_code(m),
        DataFusionError::Execution(m) => {
            if m.contains("Divide by zero") || m.contains("division by zero") {
                sqlstate::DIVISION_BY_ZERO
            } else if m.contains("Cannot cast") || m.contains("Cast error") {
                sqlstate::INVALID_TEXT_REPRESENTATION
            } else {
                sqlstate::DATA_EXCEPTION
            }
        }
        DataFusionError::Internal(_) => sqlstate::INTERNAL_ERROR,
        _ => sqlstate::INTERNAL_ERROR,
    };
    (code, message)
}

fn plan_code(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("table") && (m.contains("not found") || m.contains("does not exist")) {
        sqlstate::UNDEFINED_TABLE
    } else if m.contains("invalid function") || m.contains("function") && m.contains("not found") {
        sqlstate::UNDEFINED_FUNCTION
    } else if m.contains("no field named") || m.contains("column") && m.contains("not found") {
        sqlstate::UNDEFINED_COLUMN
    } else if m.contains("parameter") && m.contains("expected") {
        sqlstate::PROTOCOL_VIOLATION
    } else if m.contains("cannot be cast")
        || m.contains("coerc")
        || m.contains("does not support")
        || m.contains("no function matches")
    {
        sqlstate::DATATYPE_MISMATCH
    } else if m.contains("unsupported") || m.contains("not supported") {
        sqlstate::FEATURE_NOT_SUPPORTED
    } else {
        sqlstate::SYNTAX_ERROR
    }
}

/// DataFusion prefixes messages with its error kind ("Error during planning:
/// ..."); a PostgreSQL client shows the SQLSTATE instead, so the prefix goes.
fn strip_prefixes(message: &str) -> String {
    const PREFIXES: &[&str] = &[
        "Error during planning: ",
        "Schema error: ",
        "SQL error: ",
        "Execution error: ",
        "Arrow error: ",
        "This feature is not implemented: ",
        "Resources exhausted: ",
        "Optimizer rule",
    ];
    let mut m = message.trim();
    loop {
        let before = m;
        for p in PREFIXES {
            if let Some(rest) = m.strip_prefix(p) {
                m = rest.trim_start();
            }
        }
        if before == m {
            break;
        }
    }
    m.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::{Column, SchemaError};

    fn code(e: DataFusionError) -> String {
        match to_pg_error(&e) {
            PgWireError::UserError(info) => info.code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sqlstates() {
        assert_eq!(
            code(DataFusionError::Plan(
                "table 'datafusion.public.nope' not found".into()
            )),
            "42P01"
        );
        assert_eq!(
            code(DataFusionError::SchemaError(
                Box::new(SchemaError::FieldNotFound {
                    field: Box::new(Column::from_name("x")),
                    valid_fields: vec![]
                }),
                Box::new(None)
            )),
            "42703"
        );
        assert_eq!(
            code(DataFusionError::ResourcesExhausted("too big".into())),
            "53200"
        );
        assert_eq!(
            code(DataFusionError::Context(
                "ctx".into(),
                Box::new(DataFusionError::ResourcesExhausted("too big".into()))
            )),
            "53200"
        );
        assert_eq!(
            code(DataFusionError::SQL(
                Box::new(ParserError::ParserError("Expected: x".into())),
                None
            )),
            "42601"
        );
    }
}
