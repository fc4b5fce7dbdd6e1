//! Statement handling for both protocols: classify, plan, execute, stream.
//!
//! ```text
//!  SQL ──► split (simple protocol) ──► classify ──┬─ SET/SHOW/BEGIN/… ──► session, tags
//!                                                 ├─ INSERT/CREATE/… ──► 25006
//!                                                 ├─ COPY (q) TO STDOUT ─► CopyOut
//!                                                 └─ query ─┬─ catalog ─► rewrite ─► server state
//!                                                           └─ other ───► Trail::dataframe
//!  plan ──► DataFrame on the server state (memory pool) ──► guarded stream ──► DataRows
//!                                     (cancel signal, statement_timeout) ─┘
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{ParamValues, ScalarValue, TableReference};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::DataFrame;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Expr, Reset, Set,
    Statement, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::{stream, Sink, Stream, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, DataRowEncoder, FieldFormat,
    FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::CopyData;
use pgwire::messages::PgWireBackendMessage;
use trail_engine::Trail;

use crate::catalog::{self, relation_oid};
use crate::error::{
    engine_error, interrupt_error, read_only_error, sqlstate, to_pg_error, user_error, Interrupt,
};
use crate::session::{CancelSignal, Session};
use crate::types::{self, Origin};

/// A statement after Parse: what to do when it is executed.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    /// A query returning rows.
    Query(Arc<PlannedQuery>),
    /// `COPY (query) TO STDOUT`.
    Copy(Arc<PlannedQuery>, CopyFormat),
    /// Session and transaction control.
    Command(Command),
}

/// A planned query and what Describe reports about it.
#[derive(Debug)]
pub(crate) struct PlannedQuery {
    plan: LogicalPlan,
    params: Vec<Option<DataType>>,
    origins: Vec<Origin>,
}

/// COPY output options.
#[derive(Debug, Clone)]
pub(crate) struct CopyFormat {
    csv: bool,
    header: bool,
    delimiter: Option<char>,
    null: Option<String>,
}

/// Statements answered without the engine.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Set {
        name: String,
        value: Option<String>,
    },
    Show(String),
    ResetAll,
    Begin,
    Commit,
    Rollback,
    Discard,
    /// Accepted and ignored, answered with this tag.
    Ignore(&'static str),
}

/// The server's query engine: the Trail handle for dialect-aware planning
/// and the server session state (catalog emulation, memory pool).
#[derive(Debug)]
pub(crate) struct QueryEngine {
    trail: Trail,
    state: SessionState,
    functions: HashSet<String>,
}

fn first_keyword(sql: &str) -> String {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r
                .split_once('\n')
                .map(|(_, r)| r)
                .unwrap_or("")
                .trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r
                .split_once("*/")
                .map(|(_, r)| r)
                .unwrap_or("")
                .trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    rest.split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

const WRITE_KEYWORDS: &[&str] = &[
    "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT",
    "REVOKE", "COMMENT", "VACUUM", "CLUSTER", "REINDEX", "LOCK", "REFRESH", "IMPORT", "CALL", "DO",
    "UPSERT", "REPLACE", "SECURITY", "REASSIGN",
];

fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

fn copy_format(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> PgWireResult<CopyFormat> {
    let mut f = CopyFormat {
        csv: false,
        header: false,
        delimiter: None,
        null: None,
    };
    for o in options {
        match o {
            CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                "csv" => f.csv = true,
                "text" => f.csv = false,
                other => {
                    return Err(user_error(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!("COPY format {other} is not supported; use csv or text"),
                    ))
                }
            },
            CopyOption::Header(h) => f.header = *h,
            CopyOption::Delimiter(c) => f.delimiter = Some(*c),
            CopyOption::Null(n) => f.null = Some(n.clone()),
            _ => {}
        }
    }
    for o in legacy {
        match o {
            CopyLegacyOption::Csv(csv) => {
                f.csv = true;
                if csv.iter().any(|c| matches!(c, CopyLegacyCsvOption::Header)) {
                    f.header = true;
                }
            }
            CopyLegacyOption::Delimiter(c) => f.delimiter = Some(*c),
            CopyLegacyOption::Binary => {
                return Err(user_error(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "COPY BINARY is not supported; use csv or text",
                ))
            }
            other => {
                let text = other.to_string().to_ascii_uppercase();
                if text == "HEADER" {
                    f.header = true;
                }
            }
        }
    }
    Ok(f)
}

/// Splits a simple-protocol query string into statements at top-level
/// semicolons (quotes, comments and dollar quoting respected).
pub(crate) fn split_statements(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                let tag_end = sql[i + 1..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map(|n| i + 1 + n);
                if let Some(e) = tag_end.filter(|e| b.get(*e) == Some(&b'$')) {
                    let tag = &sql[i..=e];
                    if let Some(close) = sql[e + 1..].find(tag) {
                        i = e + 1 + close + tag.len() - 1;
                    }
                }
            }
            b';' => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&sql[start.min(sql.len())..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

fn check_read_only(plan: &LogicalPlan) -> PgWireResult<()> {
    match plan {
        LogicalPlan::Dml(d) => Err(read_only_error(&d.op.to_string())),
        LogicalPlan::Ddl(d) => Err(read_only_error(d.name())),
        LogicalPlan::Copy(_) => Err(read_only_error("COPY TO a file")),
        LogicalPlan::Statement(_) => Err(user_error(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "this statement is not supported over the PostgreSQL protocol",
        )),
        _ => Ok(()),
    }
}

/// Finds where each output column of `plan` comes from (table OID, attnum).
fn origins(plan: &LogicalPlan) -> Vec<Origin> {
    // qualifier → (table oid, column names)
    let mut tables: HashMap<String, (u32, Vec<String>)> = HashMap::new();
    fn resolve(t: &TableReference) -> (String, String) {
        match t {
            TableReference::Bare { table } => ("public".to_owned(), table.to_string()),
            TableReference::Partial { schema, table }
            | TableReference::Full { schema, table, .. } => (schema.to_string(), table.to_string()),
        }
    }
    let _ = plan.apply(|node| {
        match node {
            LogicalPlan::TableScan(scan) => {
                let (schema, table) = resolve(&scan.table_name);
                let names = scan
                    .source
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                tables.insert(
                    scan.table_name.to_string(),
                    (relation_oid(&schema, &table), names),
                );
            }
            LogicalPlan::SubqueryAlias(a) => {
                if let LogicalPlan::TableScan(scan) = a.input.as_ref() {
                    let (schema, table) = resolve(&scan.table_name);
                    let names = scan
                        .source
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect();
                    tables.insert(a.alias.to_string(), (relation_oid(&schema, &table), names));
                }
            }
            _ => {}
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    plan.schema()
        .iter()
        .map(|(qualifier, field)| {
            let (oid, names) = tables.get(&qualifier?.to_string())?;
            let pos = names.iter().position(|n| n == field.name())?;
            Some((*oid as i32, pos as i16 + 1))
        })
        .collect()
}

impl QueryEngine {
    pub(crate) fn new(trail: Trail, state: SessionState, functions: HashSet<String>) -> Self {
        Self {
            trail,
            state,
            functions,
        }
    }

    /// Classifies and plans one statement.
    pub(crate) async fn prepare(&self, sql: &str) -> PgWireResult<Option<Prepared>> {
        let sql = sql.trim().trim_end_matches(';').trim();
        if sql.is_empty() {
            return Ok(None);
        }
        let keyword = first_keyword(sql);
        if WRITE_KEYWORDS.contains(&keyword.as_str()) {
            return Err(read_only_error(&keyword));
        }
        let parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql);
        let statement = match parsed {
            Ok(mut statements) if statements.len() == 1 => Some(statements.remove(0)),
            Ok(statements) if statements.is_empty() => return Ok(None),
            Ok(_) => {
                return Err(user_error(
                    sqlstate::SYNTAX_ERROR,
                    "cannot insert multiple commands into a prepared statement",
                ))
            }
            Err(_) => None,
        };
        let Some(statement) = statement else {
            // Not PostgreSQL syntax: the engine's dialect may know it (BigQuery forms).
            return Ok(Some(Prepared::Query(Arc::new(
                self.plan_engine(sql).await?,
            ))));
        };
        if let Some(command) = command(&statement)? {
            return Ok(Some(Prepared::Command(command)));
        }
        match statement {
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                ..
            } => {
                if !to {
                    return Err(read_only_error("COPY FROM"));
                }
                if !matches!(target, CopyTarget::Stdout) {
                    return Err(user_error(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        "only COPY ... TO STDOUT is supported (use psql's \\copy for files)",
                    ));
                }
                let format = copy_format(&options, &legacy_options)?;
                let inner = match source {
                    CopySource::Query(q) => q.to_string(),
                    CopySource::Table {
                        table_name,
                        columns,
                    } => {
                        let cols = if columns.is_empty() {
                            "*".to_owned()
                        } else {
                            columns
                                .iter()
                                .map(|c| c.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        format!("SELECT {cols} FROM {table_name}")
                    }
                };
                let query = Box::pin(self.prepare(&inner)).await?;
                match query {
                    Some(Prepared::Query(q)) => Ok(Some(Prepared::Copy(q, format))),
                    _ => Err(user_error(
                        sqlstate::SYNTAX_ERROR,
                        "COPY needs a query or a table",
                    )),
                }
            }
            mut statement if catalog::rewrite::is_catalog_query(&statement, &self.functions) => {
                catalog::rewrite::rewrite(&mut statement);
                let plan = self
                    .state
                    .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                        statement,
                    )))
                    .await
                    .map_err(|e| to_pg_error(&e))?;
                Ok(Some(Prepared::Query(Arc::new(self.finish_plan(plan)?))))
            }
            _ => Ok(Some(Prepared::Query(Arc::new(
                self.plan_engine(sql).await?,
            )))),
        }
    }

    async fn plan_engine(&self, sql: &str) -> PgWireResult<PlannedQuery> {
        let df = self.trail.dataframe(sql).await.map_err(engine_error)?;
        let (_, plan) = df.into_parts();
        self.finish_plan(plan)
    }

    fn finish_plan(&self, plan: LogicalPlan) -> PgWireResult<PlannedQuery> {
        check_read_only(&plan)?;
        let types = plan.get_parameter_types().map_err(|e| to_pg_error(&e))?;
        let count = types
            .keys()
            .filter_map(|k| k.trim_start_matches('$').parse::<usize>().ok())
            .max()
            .unwrap_or(0);
        let params = (1..=count)
            .map(|i| types.get(&format!("${i}")).cloned().flatten())
            .collect();
        let origins = origins(&plan);
        Ok(PlannedQuery {
            plan,
            params,
            origins,
        })
    }

    fn fields(&self, q: &PlannedQuery, format: Option<&Format>) -> Vec<FieldInfo> {
        let fields: Vec<_> = q.plan.schema().fields().iter().cloned().collect();
        types::field_infos(&fields, &q.origins, format)
    }

    /// Starts `q` with `params` bound; batches arrive through the guard.
    async fn start(
        &self,
        q: &PlannedQuery,
        params: Vec<ScalarValue>,
        session: &Session,
    ) -> PgWireResult<GuardedStream> {
        let since = session.cancel.generation();
        let deadline = session.statement_timeout().map(|t| Instant::now() + t);
        let mut plan = q.plan.clone();
        if !params.is_empty() || !q.params.is_empty() {
            plan = plan
                .with_param_values(ParamValues::from(params))
                .map_err(|e| to_pg_error(&e))?;
        }
        let df = DataFrame::new(self.state.clone(), plan);
        let cancel = session.cancel.clone();
        let start = async { df.execute_stream().await.map_err(|e| to_pg_error(&e)) };
        let stream = tokio::select! {
            s = start => s?,
            _ = cancel.cancelled(since) => return Err(interrupt_error(Interrupt::Cancel)),
            _ = sleep_until(deadline) => return Err(interrupt_error(Interrupt::Timeout)),
        };
        Ok(GuardedStream {
            inner: stream,
            cancel,
            since,
            deadline,
        })
    }

    async fn run_query(
        &self,
        q: &PlannedQuery,
        params: Vec<ScalarValue>,
        session: &Session,
        format: Option<&Format>,
    ) -> PgWireResult<Response> {
        let fields = Arc::new(self.fields(q, format));
        let batches = self.start(q, params, session).await?.into_stream();
        let encode_fields = fields.clone();
        let rows = batches
            .map(move |b| b.and_then(|b| types::encode_batch(&b, &encode_fields)))
            .flat_map(|r| match r {
                Ok(rows) => stream::iter(rows.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            });
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    async fn run_copy(
        &self,
        q: &PlannedQuery,
        format: &CopyFormat,
        session: &Session,
    ) -> PgWireResult<Response> {
        let fields = Arc::new(self.fields(q, None));
        let columns = fields.len();
        let delimiter = format
            .delimiter
            .unwrap_or(if format.csv { ',' } else { '\t' });
        let mut encoder = if format.csv {
            let mut o = CopyCsvOptions {
                delimiter: delimiter.to_string().into(),
                ..Default::default()
            };
            if let Some(n) = &format.null {
                o.null_string = n.as_str().into();
            }
            CopyEncoder::new_csv(fields.clone(), o)
        } else {
            let mut o = CopyTextOptions {
                delimiter: delimiter.to_string().into(),
                ..Default::default()
            };
            if let Some(n) = &format.null {
                o.null_string = n.as_str().into();
            }
            CopyEncoder::new_text(fields.clone(), o)
        };
        let header = format.header.then(|| {
            let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            CopyData::new(Bytes::from(format!(
                "{}\n",
                names.join(&delimiter.to_string())
            )))
        });
        let batches = self.start(q, vec![], session).await?.into_stream();
        let encode_fields = fields.clone();
        let lines = batches
            .map(move |b| b.and_then(|b| types::encode_copy(&b, &encode_fields, &mut encoder)))
            .flat_map(|r| match r {
                Ok(lines) => stream::iter(lines.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            });
        let lines = stream::iter(header.map(Ok)).chain(lines);
        Ok(Response::CopyOut(CopyResponse::new(0, columns, lines)))
    }

    fn run_command(&self, command: &Command, session: &Session) -> PgWireResult<Response> {
        Ok(match command {
            Command::Set { name, value } => {
                match value {
                    Some(v) => {
                        if name == "statement_timeout"
                            && crate::config::parse_duration_ms(v).is_none()
                        {
                            return Err(user_error(
                                sqlstate::INVALID_PARAMETER_VALUE,
                                format!(
                                    "invalid value for parameter \"statement_timeout\": \"{v}\""
                                ),
                            ));
                        }
                        session.set(name, v)
                    }
                    None => session.reset(name),
                }
                Response::Execution(Tag::new("SET"))
            }
            Command::Show(name) => {
                let value = session.get(name).ok_or_else(|| {
                    user_error(
                        sqlstate::UNDEFINED_PARAMETER,
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                let fields = Arc::new(vec![FieldInfo::new(
                    name.clone(),
                    None,
                    None,
                    Type::TEXT,
                    FieldFormat::Text,
                )]);
                let mut enc = DataRowEncoder::new(fields.clone());
                enc.encode_field(&value)?;
                let row = enc.take_row();
                let mut resp = QueryResponse::new(fields, stream::iter(vec![Ok(row)]));
                resp.set_command_tag("SHOW");
                Response::Query(resp)
            }
            Command::ResetAll => {
                session.reset_all();
                Response::Execution(Tag::new("RESET"))
            }
            Command::Begin => Response::TransactionStart(Tag::new("BEGIN")),
            Command::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
            Command::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
            Command::Discard => {
                session.reset_all();
                Response::Execution(Tag::new("DISCARD ALL"))
            }
            Command::Ignore(tag) => Response::Execution(Tag::new(tag)),
        })
    }

    /// Executes a prepared statement.
    pub(crate) async fn execute(
        &self,
        prepared: &Prepared,
        params: Vec<ScalarValue>,
        session: &Session,
        format: Option<&Format>,
    ) -> PgWireResult<Response> {
        match prepared {
            Prepared::Query(q) => self.run_query(q, params, session, format).await,
            Prepared::Copy(q, f) => self.run_copy(q, f, session).await,
            Prepared::Command(c) => self.run_command(c, session),
        }
    }
}

fn command(statement: &Statement) -> PgWireResult<Option<Command>> {
    let set = |name: String, value: Option<String>| Command::Set {
        name: name.to_ascii_lowercase(),
        value,
    };
    Ok(Some(match statement {
        Statement::Set(s) => match s {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string();
                let value: Vec<String> = values.iter().map(expr_text).collect();
                let value = value.join(", ");
                if value.eq_ignore_ascii_case("default") {
                    set(name, None)
                } else {
                    set(name, Some(value))
                }
            }
            Set::SetTimeZone { value, .. } => set("timezone".to_owned(), Some(expr_text(value))),
            Set::MultipleAssignments { .. } | Set::ParenthesizedAssignments { .. } => {
                Command::Ignore("SET")
            }
            _ => Command::Ignore("SET"),
        },
        Statement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| i.value.clone())
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            let name = match name.as_str() {
                "time zone" => "timezone".to_owned(),
                "transaction isolation level" => "transaction_isolation".to_owned(),
                _ => name,
            };
            Command::Show(name)
        }
        Statement::StartTransaction { .. } => Command::Begin,
        Statement::Commit { .. } => Command::Commit,
        Statement::Rollback { savepoint, .. } => match savepoint {
            Some(_) => Command::Ignore("ROLLBACK"),
            None => Command::Rollback,
        },
        Statement::Savepoint { .. } => Command::Ignore("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Command::Ignore("RELEASE"),
        Statement::Discard { .. } => Command::Discard,
        Statement::Deallocate { .. } => Command::Ignore("DEALLOCATE"),
        Statement::Close { .. } => Command::Ignore("CLOSE CURSOR"),
        Statement::Reset(r) => match &r.reset {
            Reset::ALL => Command::ResetAll,
            Reset::ConfigurationParameter(name) => set(name.to_string(), None),
        },
        _ => {
            let text = statement.to_string();
            let kw = first_keyword(&text);
            match kw.as_str() {
                "LISTEN" => Command::Ignore("LISTEN"),
                "UNLISTEN" => Command::Ignore("UNLISTEN"),
                _ => return Ok(None),
            }
        }
    }))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => futures::future::pending::<()>().await,
    }
}

/// A running statement's batches, stopped by cancel or timeout.
struct GuardedStream {
    inner: SendableRecordBatchStream,
    cancel: Arc<CancelSignal>,
    since: u64,
    deadline: Option<Instant>,
}

impl GuardedStream {
    fn into_stream(self) -> impl Stream<Item = PgWireResult<RecordBatch>> + Send + 'static {
        stream::unfold(Some(self), |state| async move {
            let mut s = state?;
            let next = tokio::select! {
                b = s.inner.next() => b.map(|r| r.map_err(|e| to_pg_error(&e))),
                _ = s.cancel.cancelled(s.since) => Some(Err(interrupt_error(Interrupt::Cancel))),
                _ = sleep_until(s.deadline) => Some(Err(interrupt_error(Interrupt::Timeout))),
            };
            match next {
                None => None,
                Some(Ok(batch)) => Some((Ok(batch), Some(s))),
                // Dropping the DataFusion stream here stops the query.
                Some(Err(e)) => Some((Err(e), None)),
            }
        })
    }
}

fn session_of<C: ClientInfo>(client: &C) -> Arc<Session> {
    client
        .session_extensions()
        .get_or_insert_with(|| Session::new(0, Arc::new(CancelSignal::default())))
}

/// The pgwire handlers: simple and extended query protocol.
#[derive(Debug)]
pub(crate) struct TrailHandler {
    pub(crate) engine: Arc<QueryEngine>,
    parser: Arc<TrailParser>,
}

impl TrailHandler {
    pub(crate) fn new(engine: Arc<QueryEngine>) -> Self {
        Self {
            parser: Arc::new(TrailParser {
                engine: engine.clone(),
            }),
            engine,
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for TrailHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client);
        let mut responses = Vec::new();
        for sql in split_statements(query) {
            let result = async {
                match self.engine.prepare(sql).await? {
                    Some(p) => self.engine.execute(&p, vec![], &session, None).await,
                    None => Ok(Response::EmptyQuery),
                }
            }
            .await;
            match result {
                Ok(r) => responses.push(r),
                Err(e) => {
                    if responses.is_empty() {
                        return Err(e);
                    }
                    responses.push(Response::Error(Box::new(e.into())));
                    break;
                }
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

/// Parses and plans statements for the extended protocol.
#[derive(Debug)]
pub(crate) struct TrailParser {
    engine: Arc<QueryEngine>,
}

#[async_trait]
impl QueryParser for TrailParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        self.engine.prepare(sql).await
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(match stmt {
            Prepared::Query(q) => q
                .params
                .iter()
                .map(|t| t.as_ref().map(types::pg_type_of).unwrap_or(Type::TEXT))
                .collect(),
            _ => vec![],
        })
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match stmt {
            Prepared::Query(q) => self.engine.fields(q, format),
            Prepared::Command(Command::Show(name)) => vec![FieldInfo::new(
                name.clone(),
                None,
                None,
                Type::TEXT,
                FieldFormat::Text,
            )],
            _ => vec![],
        })
    }
}

#[async_trait]
impl ExtendedQueryHandler for TrailHandler {
    type Statement = Prepared;
    type QueryParser = TrailParser;

    fn query_parser(&self) -> Arc<TrailParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client);
        let prepared = &portal.statement.statement;
        let params = match prepared {
            Prepared::Query(q) => {
                let declared = &portal.statement.parameter_types;
                (0..portal.parameters.len())
                    .map(|i| {
                        let inferred = q.params.get(i).cloned().flatten();
                        let ty = declared
                            .get(i)
                            .cloned()
                            .flatten()
                            .filter(|t| *t != Type::UNKNOWN)
                            .or_else(|| inferred.as_ref().map(types::pg_type_of))
                            .unwrap_or(Type::TEXT);
                        types::decode_param(
                            i,
                            portal.parameters[i].as_deref(),
                            portal.parameter_format.is_binary(i),
                            &ty,
                            inferred.as_ref(),
                        )
                    })
                    .collect::<PgWireResult<Vec<_>>>()?
            }
            _ => vec![],
        };
        self.engine
            .execute(
                prepared,
                params,
                &session,
                Some(&portal.result_column_format),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons() {
        assert_eq!(
            split_statements("select 1; select ';' ; -- c;\nselect $$a;b$$;"),
            vec!["select 1", " select ';' ", " -- c;\nselect $$a;b$$"]
        );
        assert!(split_statements(" ; ;").is_empty());
    }

    #[test]
    fn keywords() {
        assert_eq!(first_keyword("  /* x */ insert into t"), "INSERT");
        assert_eq!(first_keyword("-- hi\nSELECT 1"), "SELECT");
    }
}
