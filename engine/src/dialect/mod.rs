//! Heap/BigQuery and PostgreSQL SQL, rewritten for DataFusion.
//!
//! (Skeleton: the dialect work fills this in.)

use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Registers the dialect's functions in `ctx`.
pub fn register(_ctx: &SessionContext) -> Result<()> {
    Ok(())
}

/// Parses exactly one statement and rewrites it for DataFusion.
pub fn parse_one(sql: &str) -> Result<Statement> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| DataFusionError::SQL(Box::new(e.into()), None))?;
    if statements.len() != 1 {
        return Err(DataFusionError::Plan(format!(
            "expected exactly one SQL statement, got {}",
            statements.len()
        )));
    }
    Ok(statements.remove(0))
}
