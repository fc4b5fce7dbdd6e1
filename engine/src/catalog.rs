//! The SQL catalog: Heap Connect's tables over the stored Delta tables.
//!
//! ```text
//! schema public (and again heap_export)
//!   events          EventsTable: stored events + user merges + current user properties
//!   users           users with lifecycle metrics (view)
//!   sessions        one row a session (view)
//!   pageviews       page views (view)
//!   all_events      event_id, user_id, session_id, time, event_table_name (view)
//!   user_migrations from_user_id, to_user_id, time (view)
//! ```
//! [`EventsTable`] is a projection-aware view: a scan that does not need
//! `user_properties` (or merged user ids) never joins the users table, and
//! filters on stored columns are pushed into the Delta scan, with a time
//! filter also narrowed to the `event_date` partitions it can touch (and a
//! filter on the date of `time`, `DATE(time) >= D`, answered by them alone).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemorySchemaProvider, Session};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{Column, JoinType, ScalarValue};
use datafusion::datasource::{provider_as_source, MemTable, TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{
    col, lit, BinaryExpr, Expr, LogicalPlan, LogicalPlanBuilder, Operator,
    TableProviderFilterPushDown,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use crate::canonical_user::MergedIds;
use crate::event_batch::{stored_schema, CONTEXT_COLUMNS, EVENT_REST};
use crate::layout::{PropertyLayout, EVENT_PREFIX, USER_PREFIX};
use crate::message::PAGEVIEW_EVENT;
use crate::store::PARTITION_COLUMN;
use crate::user_filter::{stored_ids_filter, user_literals};
use crate::users_lookup::UserRows;
use crate::users_table::USER_REST;

/// The schemas the tables are registered in.
pub const SCHEMAS: [&str; 2] = ["public", "heap_export"];

/// `trail_json_object(rest, 'k', <prefix>k, …)` rebuilding a property object.
pub(crate) fn json_object_sql(qualifier: &str, rest: &str, layout: &PropertyLayout) -> String {
    let mut sql = format!("trail_json_object({qualifier}\"{rest}\"");
    for k in layout.keys() {
        sql.push_str(&format!(
            ", '{}', {qualifier}\"{}\"",
            k.key,
            layout.column_name(&k.key)
        ));
    }
    sql.push(')');
    sql
}

/// The same call as an expression over columns qualified by `qualifier`.
fn json_object_expr(qualifier: &str, rest: &str, layout: &PropertyLayout) -> Expr {
    let column = |name: String| Expr::Column(Column::new(Some(qualifier), name));
    let mut args = vec![column(rest.to_string())];
    for k in layout.keys() {
        args.push(lit(k.key.clone()));
        args.push(column(layout.column_name(&k.key)));
    }
    Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
        Arc::new(crate::json_object::JsonObject::udf()),
        args,
    ))
}

/// The stored tables, as DataFusion providers.
#[derive(Debug, Clone)]
pub struct StoredTables {
    pub events: Arc<dyn TableProvider>,
    pub users: Arc<dyn TableProvider>,
    /// The users merged into another (events of theirs show the survivor's id).
    pub(crate) merged: Arc<MergedIds>,
}

impl StoredTables {
    /// Empty tables, for a data directory nothing was imported into yet.
    pub fn empty() -> Result<Self> {
        let events = stored_schema(&PropertyLayout::from_schema(EVENT_PREFIX, &Schema::empty()));
        let users = crate::users_table::users_batch(&Default::default())
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
            .schema();
        Ok(Self {
            events: Arc::new(MemTable::try_new(events, vec![vec![]])?),
            users: Arc::new(MemTable::try_new(users, vec![vec![]])?),
            merged: Arc::default(),
        })
    }

    /// Whether any user was merged into another (then user ids are remapped).
    pub fn has_merges(&self) -> bool {
        !self.merged.is_empty()
    }
}

/// Registers every table in both schemas of `ctx`.
pub async fn register(ctx: &SessionContext, stored: StoredTables) -> Result<()> {
    let catalog = ctx.catalog("datafusion").ok_or_else(|| {
        datafusion::error::DataFusionError::Internal("default catalog missing".into())
    })?;
    for schema in SCHEMAS {
        if catalog.schema(schema).is_none() {
            catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
        }
    }
    // Views are planned against a scratch session, so a refresh never shows
    // queries a half-registered catalog.
    let scratch = SessionContext::new_with_config(ctx.copied_config());
    scratch.register_udf(crate::json_object::JsonObject::udf());
    let events: Arc<dyn TableProvider> = Arc::new(EventsTable::try_new(&stored)?);
    scratch.register_table("public.trail_stored_users", stored.users.clone())?;
    scratch.register_table("public.events", events.clone())?;
    let mut tables = vec![("events", events)];
    for (name, sql) in views(&stored) {
        tables.push((name, scratch.sql(&sql).await?.into_view()));
    }
    for schema in SCHEMAS {
        for (name, table) in &tables {
            let qualified = format!("{schema}.{name}");
            ctx.deregister_table(qualified.as_str())?;
            ctx.register_table(qualified.as_str(), table.clone())?;
        }
    }
    Ok(())
}

fn views(stored: &StoredTables) -> Vec<(&'static str, String)> {
    let layout = PropertyLayout::from_schema(USER_PREFIX, &stored.users.schema());
    let fixed = [
        "user_id",
        "identity",
        "joindate",
        "last_seen",
        "user_properties",
    ];
    let lifecycle = [
        "days_since_first_seen",
        "days_since_last_seen",
        "session_count_30d",
        "active_days_30d",
        "lifecycle_stage",
    ];
    let props: String = layout
        .keys()
        .iter()
        .filter(|k| !fixed.contains(&k.key.as_str()) && !lifecycle.contains(&k.key.as_str()))
        .map(|k| format!("u.\"{}\" AS \"{}\", ", layout.column_name(&k.key), k.key))
        .collect();
    let user_json = json_object_sql("u.", USER_REST, &layout);
    let context = CONTEXT_COLUMNS.join(", ");
    vec![
        (
            "users",
            format!(
                "SELECT u.user_id, u.identity, u.joindate, u.last_seen, {props}{user_json} AS user_properties, \
                   days_since_first_seen, days_since_last_seen, \
                   COALESCE(a.sessions, 0) AS session_count_30d, COALESCE(a.days, 0) AS active_days_30d, \
                   CASE WHEN days_since_first_seen <= 7 THEN 'New User' \
                        WHEN days_since_last_seen > 30 THEN 'Churned' \
                        WHEN days_since_last_seen BETWEEN 14 AND 30 THEN 'At Risk' \
                        WHEN COALESCE(a.days, 0) >= 15 THEN 'Power User' \
                        WHEN COALESCE(a.sessions, 0) >= 3 THEN 'Active' \
                        ELSE 'Casual' END AS lifecycle_stage \
                 FROM (SELECT *, \
                         CAST(CAST(current_date() AS INT) - CAST(CAST(joindate AS DATE) AS INT) AS BIGINT) AS days_since_first_seen, \
                         CAST(CAST(current_date() AS INT) - CAST(CAST(last_seen AS DATE) AS INT) AS BIGINT) AS days_since_last_seen \
                       FROM public.trail_stored_users WHERE merged_into IS NULL) u \
                 LEFT JOIN (SELECT user_id, COUNT(DISTINCT session_id) AS sessions, COUNT(DISTINCT CAST(time AS DATE)) AS days \
                            FROM public.events WHERE time >= current_date() - INTERVAL '30 days' GROUP BY user_id) a \
                   ON a.user_id = u.user_id"
            ),
        ),
        (
            "sessions",
                            "SELECT session_id, user_id, MIN(time) AS time, MAX(time) AS end_time, COUNT(*) AS event_count, \
                   first_value(page_url ORDER BY time) AS landing_page, \
                   first_value(referrer ORDER BY time) AS referrer, \
                   first_value(device_type ORDER BY time) AS device_type, \
                   first_value(browser ORDER BY time) AS browser, \
                   first_value(platform ORDER BY time) AS platform, \
                   first_value(country ORDER BY time) AS country, \
                   first_value(region ORDER BY time) AS region, \
                   first_value(city ORDER BY time) AS city \
                 FROM public.events GROUP BY session_id, user_id"
                .into(),
        ),
        (
            "pageviews",
            format!(
                "SELECT event_id, user_id, session_id, time, event_properties, {context} \
                 FROM public.events WHERE event_type = '{PAGEVIEW_EVENT}'"
            ),
        ),
        (
            "all_events",
            "SELECT event_id, user_id, session_id, time, event_type AS event_table_name FROM public.events".into(),
        ),
        (
            "user_migrations",
            "SELECT user_id AS from_user_id, merged_into AS to_user_id, merged_at AS time \
             FROM public.trail_stored_users WHERE merged_into IS NOT NULL"
                .into(),
        ),
    ]
}

/// The `events` table: exactly Heap's export columns, over the stored layout.
#[derive(Debug)]
pub struct EventsTable {
    stored: StoredTables,
    event_layout: PropertyLayout,
    user_layout: PropertyLayout,
    /// Stored property columns exposed after Heap's sixteen, added only by
    /// [`crate::promoted::PromotedProperties`].
    hidden: Vec<HiddenColumn>,
    schema: SchemaRef,
}

/// Which property object a property read is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PropertySide {
    Event,
    User,
}

impl PropertySide {
    /// The events column holding this side's properties as one JSON object.
    pub(crate) fn object_column(self) -> &'static str {
        match self {
            Self::Event => "event_properties",
            Self::User => "user_properties",
        }
    }

    /// The side whose JSON object column is `name`.
    pub(crate) fn of_object_column(name: &str) -> Option<Self> {
        [Self::Event, Self::User]
            .into_iter()
            .find(|s| s.object_column() == name)
    }
}

/// A column a rewritten events scan exposes after Heap's sixteen, under a
/// hidden name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HiddenColumn {
    /// A stored event-property column: a promoted key's typed column, or
    /// (`key: None`) the residual JSON.
    Event { key: Option<String> },
    /// A read of the surviving user's properties: `expr` over the stored
    /// users columns, evaluated once per user in the users lookup and carried
    /// through the join, instead of carrying the user's residual JSON to
    /// every event row and reading it there.
    UserRead {
        name: String,
        expr: Expr,
        data_type: DataType,
    },
    /// The surviving user as a number (`UInt32`), the same for every id
    /// merged into that user and different between users: what
    /// [`crate::distinct_user`] counts instead of the `user_id` text.
    UserKey,
}

impl HiddenColumn {
    /// `__ep__<key>`, `__ep_rest`, a user read's own name, or `__user_key`.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Event { key: Some(key) } => format!("__ep__{key}"),
            Self::Event { key: None } => "__ep_rest".to_string(),
            Self::UserRead { name, .. } => name.clone(),
            Self::UserKey => USER_KEY.to_string(),
        }
    }
}

/// The name of [`HiddenColumn::UserKey`].
pub(crate) const USER_KEY: &str = "__user_key";

/// The events columns, in the order design.md fixes.
pub const EVENTS_COLUMNS: [&str; 16] = [
    "event_id",
    "session_id",
    "user_id",
    "time",
    "event_type",
    "event_properties",
    "user_properties",
    "page_url",
    "page_title",
    "referrer",
    "device_type",
    "browser",
    "platform",
    "country",
    "region",
    "city",
];

impl EventsTable {
    fn try_new(stored: &StoredTables) -> Result<Self> {
        Self {
            stored: stored.clone(),
            event_layout: PropertyLayout::from_schema(EVENT_PREFIX, &stored.events.schema()),
            user_layout: PropertyLayout::from_schema(USER_PREFIX, &stored.users.schema()),
            hidden: Vec::new(),
            schema: Arc::new(Schema::empty()),
        }
        .with_schema()
    }

    fn with_schema(mut self) -> Result<Self> {
        let all: Vec<usize> = (0..self.column_names().len()).collect();
        // The types are what matter here: an empty users side of the same schema.
        let users = UserRows::empty(self.users_lookup(&[])?.schema().inner().clone());
        let plan = self.plan(&all, &[], &[], Some(&users))?;
        self.schema = Arc::new(plan.schema().as_arrow().clone());
        Ok(self)
    }

    /// A copy that exposes `hidden` (nullable, after Heap's sixteen columns,
    /// in place of any this one exposes; event columns with their stored
    /// types).
    pub(crate) fn with_hidden_properties(&self, hidden: Vec<HiddenColumn>) -> Result<Self> {
        let mut fields: Vec<_> = self.schema.fields()[..EVENTS_COLUMNS.len()].to_vec();
        for column in &hidden {
            let field = match column {
                HiddenColumn::Event { .. } => {
                    let stored = self.stored.events.schema();
                    let source = self.hidden_source(column).expect("an event column");
                    stored.field_with_name(&source)?.clone()
                }
                HiddenColumn::UserRead { data_type, .. } => Field::new("", data_type.clone(), true),
                HiddenColumn::UserKey => Field::new("", DataType::UInt32, true),
            };
            fields.push(Arc::new(field.with_name(column.name()).with_nullable(true)));
        }
        Ok(Self {
            stored: self.stored.clone(),
            event_layout: self.event_layout.clone(),
            user_layout: self.user_layout.clone(),
            hidden,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The promoted keys of one side's properties.
    pub(crate) fn layout(&self, side: PropertySide) -> &PropertyLayout {
        match side {
            PropertySide::Event => &self.event_layout,
            PropertySide::User => &self.user_layout,
        }
    }

    /// Whether this scan already exposes hidden property columns.
    pub(crate) fn has_hidden(&self) -> bool {
        !self.hidden.is_empty()
    }

    /// A copy that also exposes [`HiddenColumn::UserKey`] (last), with the
    /// index of that column; `None` if this one exposes it already.
    pub(crate) fn with_user_key(&self) -> Result<Option<(Self, usize)>> {
        if self.hidden.contains(&HiddenColumn::UserKey) {
            return Ok(None);
        }
        let mut hidden = self.hidden.clone();
        hidden.push(HiddenColumn::UserKey);
        let widened = self.with_hidden_properties(hidden)?;
        let index = widened.schema.fields().len() - 1;
        Ok(Some((widened, index)))
    }

    /// Output column names: Heap's sixteen, then any hidden ones.
    fn column_names(&self) -> Vec<String> {
        EVENTS_COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(self.hidden.iter().map(HiddenColumn::name))
            .collect()
    }

    /// The hidden column called `name`.
    fn hidden_column(&self, name: &str) -> Option<&HiddenColumn> {
        self.hidden.iter().find(|h| h.name() == name)
    }

    /// The stored events column behind a hidden event-property column.
    fn hidden_source(&self, column: &HiddenColumn) -> Option<String> {
        match column {
            HiddenColumn::Event { key: Some(key) } => Some(self.event_layout.column_name(key)),
            HiddenColumn::Event { key: None } => Some(EVENT_REST.to_string()),
            HiddenColumn::UserRead { .. } | HiddenColumn::UserKey => None,
        }
    }

    /// The stored events column behind the hidden column called `name`.
    fn hidden_source_of(&self, name: &str) -> Option<String> {
        self.hidden_column(name).and_then(|h| self.hidden_source(h))
    }

    /// Whether a column is read straight from the stored events.
    fn is_stored_column(&self, name: &str) -> bool {
        match name {
            "user_id" => !self.stored.has_merges(),
            "event_properties" | "user_properties" => false,
            _ => EVENTS_COLUMNS.contains(&name) || self.hidden_source_of(name).is_some(),
        }
    }

    fn is_stored_filter(&self, filter: &Expr) -> bool {
        filter
            .column_refs()
            .iter()
            .all(|c| self.is_stored_column(&c.name))
            && !filter.is_volatile()
    }

    /// Filters on promoted columns implied by a filter on a property:
    /// `event_properties.cart_value > 100` (after the dialect,
    /// `TRY_CAST(trail_prop(event_properties, 'cart_value') AS DOUBLE) > 100`)
    /// implies `ep__cart_value > 100 OR ep__cart_value IS NULL` — the value is
    /// either in its typed column or, if of another type, in the JSON rest.
    /// The implied filter lets min/max statistics skip files and row groups;
    /// the original filter still runs above the scan.
    fn property_filters(&self, filter: &Expr) -> Vec<Expr> {
        let mut out = Vec::new();
        for (subject, op, value) in literal_comparisons(filter) {
            if !matches!(
                op,
                Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
            ) {
                continue;
            }
            let (cast, call) = match subject {
                Expr::Cast(c) => (Some(c.field.data_type()), c.expr.as_ref()),
                Expr::TryCast(c) => (Some(c.field.data_type()), c.expr.as_ref()),
                other => (None, other),
            };
            let Expr::ScalarFunction(f) = call else {
                continue;
            };
            let [Expr::Column(c), Expr::Literal(key, _)] = f.args.as_slice() else {
                continue;
            };
            if f.name() != "trail_prop" || c.name != "event_properties" {
                continue;
            }
            let Some(key) = key.try_as_str().flatten() else {
                continue;
            };
            let Some(promoted) = self.event_layout.keys().iter().find(|k| k.key == key) else {
                continue;
            };
            let numeric_compare =
                cast.is_some_and(|t| t.is_numeric()) && value.data_type().is_numeric();
            let string_compare = cast.is_none()
                && matches!(
                    value,
                    ScalarValue::Utf8(Some(_)) | ScalarValue::Utf8View(Some(_))
                );
            let fits = match promoted.ty {
                crate::layout::PropType::Int64 | crate::layout::PropType::Float64 => {
                    numeric_compare
                }
                crate::layout::PropType::Utf8 => string_compare,
                crate::layout::PropType::Boolean => false,
            };
            if !fits {
                continue;
            }
            let column = Expr::Column(Column::new(Some("e"), self.event_layout.column_name(key)));
            let compare = Expr::BinaryExpr(BinaryExpr::new(
                Box::new(column.clone()),
                op,
                Box::new(lit(value.clone())),
            ));
            out.push(compare.or(column.is_null()));
        }
        out
    }

    /// The view's plan for `projection` under `filters` (which also run above
    /// it); `stored_filters` filter the stored events directly.
    /// User columns are read from `users`, a snapshot of the users side
    /// ([`crate::users_lookup`]), needed when the projection reads any.
    fn plan(
        &self,
        projection: &[usize],
        filters: &[Expr],
        stored_filters: &[Expr],
        users: Option<&Arc<UserRows>>,
    ) -> Result<LogicalPlan> {
        let names = self.column_names();
        let wanted: Vec<&str> = projection.iter().map(|i| names[*i].as_str()).collect();
        let mut builder =
            LogicalPlanBuilder::scan("e", provider_as_source(self.stored.events.clone()), None)?;
        for filter in stored_filters {
            builder = builder.filter(filter.clone())?;
        }
        for filter in filters {
            if let Some(exact) = exact_partition_filter(filter) {
                builder = builder.filter(exact)?;
                continue;
            }
            for derived in partition_filters(filter) {
                builder = builder.filter(derived)?;
            }
            for derived in self.property_filters(filter) {
                builder = builder.filter(derived)?;
            }
            if self.is_stored_filter(filter) {
                builder = builder.filter(filter.clone())?;
            }
        }
        let (user_columns, needs_users) = self.user_side(&wanted);
        // User ids alone are remapped without the users side (crate::canonical_user).
        let remap_user_id = !needs_users && self.stored.has_merges();
        if needs_users {
            let users = users.ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(
                    "events scan reads user columns without a users snapshot".into(),
                )
            })?;
            // Every column so far, and then more.
            let extend = |builder: LogicalPlanBuilder, more: Vec<Expr>| {
                let columns = builder.schema().columns().into_iter().map(Expr::Column);
                builder.project(columns.chain(more))
            };
            let user_id = Expr::Column(Column::new(Some("e"), "user_id"));
            let row = users.row_udf().call(vec![user_id]).alias("__user_row");
            builder = extend(builder, vec![row])?;
            let mut exprs = Vec::new();
            let lookup_columns = ["__canonical", "__props"]
                .into_iter()
                .map(String::from)
                .chain(user_columns.iter().map(|h| h.name()));
            for name in lookup_columns {
                if let Some(read) = users.column(&name, col("__user_row")) {
                    exprs.push(read.alias(name));
                }
            }
            if wanted.contains(&USER_KEY) {
                exprs.push(users.key(col("__user_row")).alias(USER_KEY));
            }
            builder = extend(builder, exprs)?;
        }
        let exprs: Vec<Expr> = wanted
            .iter()
            .map(|name| -> Result<Expr> {
                Ok(match *name {
                    // Without merges every stored id is its user's own.
                    "user_id" if needs_users && self.stored.has_merges() => {
                        datafusion::functions::expr_fn::coalesce(vec![
                            col("__canonical"),
                            col("e.user_id"),
                        ])
                        .alias("user_id")
                    }
                    "user_id" if remap_user_id => self
                        .stored
                        .merged
                        .udf()
                        .call(vec![Expr::Column(Column::new(Some("e"), "user_id"))])
                        .alias("user_id"),
                    "user_properties" => {
                        datafusion::functions::expr_fn::coalesce(vec![col("__props"), lit("{}")])
                            .alias("user_properties")
                    }
                    "event_properties" => self.event_properties_expr()?.alias("event_properties"),
                    hidden if self.hidden_source_of(hidden).is_some() => {
                        let source = self.hidden_source_of(hidden).expect("checked");
                        Expr::Column(Column::new(Some("e"), source)).alias(hidden)
                    }
                    // Carried through the users lookup under its own name.
                    hidden if self.hidden_column(hidden).is_some() => col(hidden),
                    other => Expr::Column(Column::new(Some("e"), other)).alias(other),
                })
            })
            .collect::<Result<_>>()?;
        builder.project(exprs)?.build()
    }

    /// The user reads among `wanted` columns, and whether they need the
    /// users side at all (user reads, `user_properties` or the user key).
    fn user_side<'a>(&'a self, wanted: &[&str]) -> (Vec<&'a HiddenColumn>, bool) {
        let reads: Vec<&HiddenColumn> = wanted
            .iter()
            .filter_map(|name| self.hidden_column(name))
            .filter(|h| matches!(h, HiddenColumn::UserRead { .. }))
            .collect();
        let needed =
            wanted.contains(&"user_properties") || wanted.contains(&USER_KEY) || !reads.is_empty();
        (reads, needed)
    }

    /// The users side a scan of `projection` reads, evaluated now: the
    /// surviving user's id, and `user_properties` and user reads only if wanted.
    async fn user_rows(
        &self,
        state: &dyn Session,
        projection: &[usize],
    ) -> Result<Option<Arc<UserRows>>> {
        let names = self.column_names();
        let wanted: Vec<&str> = projection.iter().map(|i| names[*i].as_str()).collect();
        let (reads, needed) = self.user_side(&wanted);
        if !needed {
            return Ok(None);
        }
        let mut keep = vec![col("__uid")];
        if self.stored.has_merges() {
            keep.push(col("__canonical"));
        }
        if wanted.contains(&"user_properties") {
            keep.push(col("__props"));
        }
        keep.extend(reads.iter().map(|h| col(h.name())));
        let lookup = self.users_lookup(&reads)?;
        // The lookup's last projection names what each column is.
        let described = match &lookup {
            LogicalPlan::Projection(p) => p
                .expr
                .iter()
                .map(|e| match e {
                    Expr::Alias(a) => (a.name.clone(), a.expr.to_string()),
                    e => (e.schema_name().to_string(), e.to_string()),
                })
                .collect(),
            _ => Default::default(),
        };
        let plan = LogicalPlanBuilder::from(lookup).project(keep)?.build()?;
        let keyed = wanted.contains(&USER_KEY);
        Ok(Some(
            UserRows::load(state, &plan, "__uid", described, keyed).await?,
        ))
    }

    fn event_properties_expr(&self) -> Result<Expr> {
        Ok(json_object_expr("e", EVENT_REST, &self.event_layout))
    }

    /// `user_id → (surviving user id, that user's properties as JSON)`, plus
    /// the user reads in `hidden`, evaluated on the survivor's stored columns.
    fn users_lookup(&self, hidden: &[&HiddenColumn]) -> Result<LogicalPlan> {
        let columns = |q: &str| -> Vec<Expr> {
            let mut exprs =
                vec![json_object_expr(q, USER_REST, &self.user_layout).alias("__props")];
            // A read names the users columns unqualified: they are unique here.
            exprs.extend(hidden.iter().filter_map(|h| match h {
                HiddenColumn::UserRead { name, expr, .. } => Some(expr.clone().alias(name)),
                HiddenColumn::Event { .. } | HiddenColumn::UserKey => None,
            }));
            exprs
        };
        let users = || provider_as_source(self.stored.users.clone());
        if !self.stored.has_merges() {
            let mut exprs = vec![
                col("u.user_id").alias("__uid"),
                lit(ScalarValue::Utf8(None)).alias("__canonical"),
            ];
            exprs.extend(columns("u"));
            return LogicalPlanBuilder::scan("u", users(), None)?
                .project(exprs)?
                .build();
        }
        // merged_into already names the final survivor (chains are resolved when stored).
        let survivors = LogicalPlanBuilder::scan("s", users(), None)?.build()?;
        let mut exprs = vec![col("__uid"), col("__canonical")];
        exprs.extend(columns("s"));
        LogicalPlanBuilder::scan("r", users(), None)?
            .project(vec![
                col("r.user_id").alias("__uid"),
                datafusion::functions::expr_fn::coalesce(vec![
                    col("r.merged_into"),
                    col("r.user_id"),
                ])
                .alias("__canonical"),
            ])?
            .join(
                survivors,
                JoinType::Left,
                (vec!["__canonical"], vec!["user_id"]),
                None,
            )?
            .project(exprs)?
            .build()
    }
}

#[async_trait]
impl TableProvider for EventsTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if exact_partition_filter(f).is_some() {
                    TableProviderFilterPushDown::Exact
                } else if self.is_stored_filter(f)
                    || !self.property_filters(f).is_empty()
                    || user_literals(f).is_some()
                {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let all: Vec<usize> = (0..self.column_names().len()).collect();
        let projection = projection.unwrap_or(&all);
        // Filters name the view's columns; stored ones resolve against the scan alias.
        let filters: Vec<Expr> = filters
            .iter()
            .map(|f| {
                f.clone()
                    .transform(|e| {
                        Ok(match e {
                            Expr::Column(c) => {
                                let name = self.hidden_source_of(&c.name).unwrap_or(c.name);
                                datafusion::common::tree_node::Transformed::yes(Expr::Column(
                                    Column::new(Some("e"), name),
                                ))
                            }
                            other => datafusion::common::tree_node::Transformed::no(other),
                        })
                    })
                    .map(|t| t.data)
            })
            .collect::<Result<_>>()?;
        let mut stored_filters = Vec::new();
        if self.stored.has_merges() {
            for literals in filters.iter().filter_map(user_literals) {
                let users = self.stored.users.clone();
                stored_filters.extend(stored_ids_filter(state, users, literals).await?);
            }
        }
        let users = self.user_rows(state, projection).await?;
        let mut plan = self.plan(projection, &filters, &stored_filters, users.as_ref())?;
        if let (Some(limit), true) = (limit, filters.is_empty()) {
            plan = LogicalPlanBuilder::from(plan)
                .limit(0, Some(limit))?
                .build()?;
        }
        state.create_physical_plan(&plan).await
    }
}

/// The conjuncts of `filter` that compare an expression with a literal, as
/// `(expression, operator, literal)` with the literal on the right.
fn literal_comparisons(filter: &Expr) -> Vec<(&Expr, Operator, &ScalarValue)> {
    datafusion::logical_expr::utils::split_conjunction(filter)
        .into_iter()
        .filter_map(literal_comparison)
        .collect()
}

/// `expr` as `(expression, operator, literal)` if it compares an expression
/// with a literal (the literal put on the right).
fn literal_comparison(expr: &Expr) -> Option<(&Expr, Operator, &ScalarValue)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    match (left.as_ref(), right.as_ref()) {
        (s, Expr::Literal(v, _)) => Some((s, *op, v)),
        (Expr::Literal(v, _), s) => op.swap().map(|op| (s, op, v)),
        _ => None,
    }
}

/// Partition filters implied by a filter on `time`: `time >= T` implies
/// `event_date >= DATE(T)`, and `DATE(time) op D` implies `event_date op D`.
/// They let the Delta scan skip whole date partitions.
pub fn partition_filters(filter: &Expr) -> Vec<Expr> {
    literal_comparisons(filter)
        .into_iter()
        .filter_map(|(subject, op, value)| partition_filter(subject, op, value))
        .map(|(derived, _exact)| derived)
        .collect()
}

/// The partition filter equivalent to `filter`, if `filter` is one
/// comparison of the UTC date of `time` with a date: `DATE(time) >= D` is
/// `event_date >= D` row for row, because every stored row's `event_date`
/// is the UTC date of its `time` (the table is partitioned that way). Such a
/// filter is then answered by the partitions alone, and the scan decodes no
/// `time` values for it.
fn exact_partition_filter(filter: &Expr) -> Option<Expr> {
    let (subject, op, value) = literal_comparison(filter)?;
    match partition_filter(subject, op, value)? {
        (derived, true) => Some(derived),
        (_, false) => None,
    }
}

/// The partition filter implied by `subject op value`, and whether it is
/// exact (equivalent on every row) rather than only implied.
fn partition_filter(subject: &Expr, op: Operator, value: &ScalarValue) -> Option<(Expr, bool)> {
    // `time` itself, or its date: the stored `time` is a UTC timestamp, so
    // each date form below is its UTC date.
    let (is_date, column) = match subject {
        Expr::Column(c) => (false, c),
        Expr::Cast(c) if c.field.data_type() == &DataType::Date32 => match c.expr.as_ref() {
            Expr::Column(c) => (true, c),
            _ => return None,
        },
        Expr::TryCast(c) if c.field.data_type() == &DataType::Date32 => match c.expr.as_ref() {
            Expr::Column(c) => (true, c),
            _ => return None,
        },
        Expr::ScalarFunction(f)
            if matches!(f.name(), "to_date" | "date" | "utc_date") && f.args.len() == 1 =>
        {
            match &f.args[0] {
                Expr::Column(c) => (true, c),
                _ => return None,
            }
        }
        _ => return None,
    };
    if column.name != "time" {
        return None;
    }
    let date = literal_date(value)?;
    // Date granularity turns strict bounds on a timestamp into inclusive ones.
    let op = match (is_date, op) {
        (_, Operator::Eq) | (_, Operator::GtEq) | (_, Operator::LtEq) => op,
        (true, Operator::Gt) | (true, Operator::Lt) => op,
        (false, Operator::Gt) => Operator::GtEq,
        (false, Operator::Lt) => Operator::LtEq,
        _ => return None,
    };
    let exact = is_date && matches!(value, ScalarValue::Date32(Some(_)));
    let derived = Expr::BinaryExpr(BinaryExpr::new(
        Box::new(Expr::Column(Column::new(Some("e"), PARTITION_COLUMN))),
        op,
        Box::new(lit(ScalarValue::Date32(Some(date)))),
    ));
    Some((derived, exact))
}

fn literal_date(value: &ScalarValue) -> Option<i32> {
    let micros = match value {
        ScalarValue::Date32(Some(d)) => return Some(*d),
        ScalarValue::Date64(Some(ms)) => ms * 1000,
        ScalarValue::TimestampSecond(Some(s), _) => s * 1_000_000,
        ScalarValue::TimestampMillisecond(Some(ms), _) => ms * 1000,
        ScalarValue::TimestampMicrosecond(Some(us), _) => *us,
        ScalarValue::TimestampNanosecond(Some(ns), _) => ns.div_euclid(1000),
        _ => return None,
    };
    Some(crate::time::date_of_micros(micros))
}
