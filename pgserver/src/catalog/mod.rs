//! `pg_catalog` and `information_schema`, emulated over whatever tables the
//! engine's session holds, so psql, JDBC, ODBC, SQLAlchemy and friends can
//! list schemas, tables and columns.
//!
//! ```text
//!  server SessionState ──► TrailCatalogList ──► default catalog ──► engine schemas (public, heap_export, …)
//!                                                    ├──► pg_catalog          (built on each lookup
//!                                                    └──► information_schema   from a snapshot)
//! ```
//!
//! Object identifiers are stable hashes of names ([`relation_oid`]), so
//! `'events'::regclass` needs no lookup and survives restarts.

pub(crate) mod functions;
pub(crate) mod rewrite;
pub(crate) mod types;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    new_null_array, ArrayRef, BooleanBuilder, Float32Builder, Int16Builder, Int32Builder,
    Int64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, MemTable, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result;

use crate::types::{pg_type, PG_TYPE_METADATA};

/// `pg_namespace.oid` of `pg_catalog`.
pub(crate) const PG_CATALOG_OID: u32 = 11;
/// `pg_namespace.oid` of `public`.
pub(crate) const PUBLIC_OID: u32 = 2200;
/// `pg_namespace.oid` of `information_schema`.
pub(crate) const INFORMATION_SCHEMA_OID: u32 = 13_183;
/// The owner of everything (`pg_roles.oid`).
pub(crate) const OWNER_OID: u32 = 10;
/// `pg_database.oid`.
pub(crate) const DATABASE_OID: u32 = 16_384;

/// The emulated schemas.
pub(crate) const PG_CATALOG: &str = "pg_catalog";
/// The emulated SQL-standard schema.
pub(crate) const INFORMATION_SCHEMA: &str = "information_schema";

fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The OID of schema `schema`.
pub(crate) fn namespace_oid(schema: &str) -> u32 {
    match schema {
        PG_CATALOG => PG_CATALOG_OID,
        "public" => PUBLIC_OID,
        INFORMATION_SCHEMA => INFORMATION_SCHEMA_OID,
        other => 16_385 + (fnv(other) % 10_000) as u32,
    }
}

/// The OID of table `schema.table`: stable across restarts, above the
/// system range, below `i32::MAX` (drivers read OIDs as signed ints).
pub(crate) fn relation_oid(schema: &str, table: &str) -> u32 {
    100_000 + (fnv(&format!("{schema}.{table}")) % 2_000_000_000) as u32
}

/// The OID of `name` as `::regclass` resolves it (`schema.table` or a table
/// of `public`; `pg_*` names are in `pg_catalog`).
pub(crate) fn regclass_oid(name: &str) -> u32 {
    let unquote = |s: &str| s.trim().trim_matches('"').to_owned();
    match name.rsplit_once('.') {
        Some((schema, table)) => relation_oid(&unquote(schema), &unquote(table)),
        None => {
            let table = unquote(name);
            let schema = if table.starts_with("pg_") {
                PG_CATALOG
            } else {
                "public"
            };
            relation_oid(schema, &table)
        }
    }
}

/// One user table as the catalog shows it.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) oid: u32,
    pub(crate) is_view: bool,
    pub(crate) fields: Vec<FieldRef>,
}

/// The user-visible schemas and tables at one moment.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) schemas: Vec<String>,
    pub(crate) tables: Vec<TableInfo>,
    pub(crate) database: String,
}

impl Snapshot {
    /// Reads every schema and table of `catalog` (the engine's, unwrapped).
    pub(crate) async fn take(catalog: &Arc<dyn CatalogProvider>) -> Self {
        let mut schemas: Vec<String> = catalog
            .schema_names()
            .into_iter()
            .filter(|s| s != PG_CATALOG && s != INFORMATION_SCHEMA)
            .collect();
        schemas.sort();
        let mut tables = Vec::new();
        for schema_name in &schemas {
            let Some(schema) = catalog.schema(schema_name) else {
                continue;
            };
            let mut names = schema.table_names();
            names.sort();
            for name in names {
                let Ok(Some(table)) = schema.table(&name).await else {
                    continue;
                };
                tables.push(TableInfo {
                    oid: relation_oid(schema_name, &name),
                    schema: schema_name.clone(),
                    // The engine exposes its tables as views over the Delta log; Heap
                    // Connect delivers them as tables, and `\dt`, JDBC `getTables(…
                    // "TABLE")` and BI tools look for tables.
                    is_view: false,
                    fields: table.schema().fields().iter().cloned().collect(),
                    name,
                });
            }
        }
        Snapshot {
            schemas,
            tables,
            database: "trail".to_owned(),
        }
    }
}

/// Wraps the engine's catalog list: the default catalog gains `pg_catalog`
/// and `information_schema`; nothing of the engine's session is modified.
#[derive(Debug)]
pub(crate) struct TrailCatalogList {
    inner: Arc<dyn CatalogProviderList>,
    default_catalog: String,
}

impl TrailCatalogList {
    pub(crate) fn new(inner: Arc<dyn CatalogProviderList>, default_catalog: String) -> Self {
        Self {
            inner,
            default_catalog,
        }
    }
}

impl CatalogProviderList for TrailCatalogList {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        self.inner.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        self.inner.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let inner = self.inner.catalog(name)?;
        if name == self.default_catalog {
            Some(Arc::new(TrailCatalog { inner }))
        } else {
            Some(inner)
        }
    }
}

#[derive(Debug)]
struct TrailCatalog {
    inner: Arc<dyn CatalogProvider>,
}

impl CatalogProvider for TrailCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        names.retain(|n| n != INFORMATION_SCHEMA && n != PG_CATALOG);
        names.push(PG_CATALOG.to_owned());
        names.push(INFORMATION_SCHEMA.to_owned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        match name {
            PG_CATALOG => Some(Arc::new(SystemSchema {
                pg: true,
                inner: self.inner.clone(),
            })),
            INFORMATION_SCHEMA => Some(Arc::new(SystemSchema {
                pg: false,
                inner: self.inner.clone(),
            })),
            _ => self.inner.schema(name),
        }
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.register_schema(name, schema)
    }
}

#[derive(Debug)]
struct SystemSchema {
    pg: bool,
    inner: Arc<dyn CatalogProvider>,
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        let specs = if self.pg { PG_TABLES } else { INFO_TABLES };
        specs.iter().map(|(n, _)| (*n).to_owned()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let specs = if self.pg { PG_TABLES } else { INFO_TABLES };
        let Some((_, spec)) = specs.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        let snapshot = Snapshot::take(&self.inner).await;
        let rows = if self.pg {
            pg_rows(name, &snapshot)
        } else {
            info_rows(name, &snapshot)
        };
        let batch = build(spec, rows)?;
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, name: &str) -> bool {
        let specs = if self.pg { PG_TABLES } else { INFO_TABLES };
        specs.iter().any(|(n, _)| *n == name)
    }
}

/// A cell of an emulated catalog table.
#[derive(Debug, Clone)]
pub(crate) enum V {
    N,
    I(i64),
    S(String),
    B(bool),
    F(f64),
}

fn s(text: impl Into<String>) -> V {
    V::S(text.into())
}

fn i(n: impl Into<i64>) -> V {
    V::I(n.into())
}

/// Column types in table specs: `name:kind`, kinds `oid name text char i2 i4
/// i8 bool f4 text[] i2[] oid[]`.
fn column(spec: &str) -> Field {
    let (name, kind) = spec.split_once(':').unwrap_or((spec, "text"));
    let meta = |t: &str| -> HashMap<String, String> {
        [(PG_TYPE_METADATA.to_owned(), t.to_owned())].into()
    };
    let list = |dt: DataType| DataType::List(Arc::new(Field::new("item", dt, true)));
    match kind {
        "oid" => Field::new(name, DataType::Int64, true).with_metadata(meta("oid")),
        "regproc" => Field::new(name, DataType::Utf8, true),
        "name" => Field::new(name, DataType::Utf8, true).with_metadata(meta("name")),
        "char" => Field::new(name, DataType::Utf8, true).with_metadata(meta("char")),
        "i2" => Field::new(name, DataType::Int16, true),
        "i4" => Field::new(name, DataType::Int32, true),
        "i8" => Field::new(name, DataType::Int64, true),
        "bool" => Field::new(name, DataType::Boolean, true),
        "f4" => Field::new(name, DataType::Float32, true),
        "text[]" => Field::new(name, list(DataType::Utf8), true),
        "i2[]" => Field::new(name, list(DataType::Int16), true),
        "oid[]" => Field::new(name, list(DataType::Int64), true),
        _ => Field::new(name, DataType::Utf8, true),
    }
}

fn build(spec: &str, rows: Vec<Vec<V>>) -> Result<RecordBatch> {
    let fields: Vec<Field> = spec.split_whitespace().map(column).collect();
    let n = rows.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    for (c, field) in fields.iter().enumerate() {
        let cell = |r: usize| rows[r].get(c).cloned().unwrap_or(V::N);
        let array: ArrayRef = match field.data_type() {
            DataType::Int64 => {
                let mut b = Int64Builder::with_capacity(n);
                (0..n).for_each(|r| b.append_option(num(&cell(r))));
                Arc::new(b.finish())
            }
            DataType::Int32 => {
                let mut b = Int32Builder::with_capacity(n);
                (0..n).for_each(|r| b.append_option(num(&cell(r)).map(|v| v as i32)));
                Arc::new(b.finish())
            }
            DataType::Int16 => {
                let mut b = Int16Builder::with_capacity(n);
                (0..n).for_each(|r| b.append_option(num(&cell(r)).map(|v| v as i16)));
                Arc::new(b.finish())
            }
            DataType::Float32 => {
                let mut b = Float32Builder::with_capacity(n);
                (0..n).for_each(|r| {
                    b.append_option(match cell(r) {
                        V::F(f) => Some(f as f32),
                        V::I(v) => Some(v as f32),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                (0..n).for_each(|r| {
                    b.append_option(match cell(r) {
                        V::B(v) => Some(v),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
            DataType::Utf8 => {
                let mut b = StringBuilder::with_capacity(n, n * 8);
                (0..n).for_each(|r| match cell(r) {
                    V::S(v) => b.append_value(v),
                    V::I(v) => b.append_value(v.to_string()),
                    V::B(v) => b.append_value(if v { "t" } else { "f" }),
                    _ => b.append_null(),
                });
                Arc::new(b.finish())
            }
            other => new_null_array(other, n),
        };
        columns.push(array);
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn num(v: &V) -> Option<i64> {
    match v {
        V::I(n) => Some(*n),
        V::B(b) => Some(*b as i64),
        _ => None,
    }
}

/// `(table, columns)` of `pg_catalog`.
const PG_TABLES: &[(&str, &str)] = &[
    ("pg_namespace", "oid:oid nspname:name nspowner:oid nspacl:text[]"),
    ("pg_class", "oid:oid relname:name relnamespace:oid reltype:oid reloftype:oid relowner:oid relam:oid relfilenode:oid reltablespace:oid relpages:i4 reltuples:f4 relallvisible:i4 reltoastrelid:oid relhasindex:bool relisshared:bool relpersistence:char relkind:char relnatts:i2 relchecks:i2 relhasrules:bool relhastriggers:bool relhassubclass:bool relrowsecurity:bool relforcerowsecurity:bool relispopulated:bool relreplident:char relispartition:bool relrewrite:oid relfrozenxid:i8 relminmxid:i8 relacl:text[] reloptions:text[] relpartbound:text"),
    ("pg_attribute", "attrelid:oid attname:name atttypid:oid attstattarget:i4 attlen:i2 attnum:i2 attndims:i4 attcacheoff:i4 atttypmod:i4 attbyval:bool attalign:char attstorage:char attcompression:char attnotnull:bool atthasdef:bool atthasmissing:bool attidentity:char attgenerated:char attisdropped:bool attislocal:bool attinhcount:i4 attcollation:oid attacl:text[] attoptions:text[] attfdwoptions:text[] attmissingval:text"),
    ("pg_type", "oid:oid typname:name typnamespace:oid typowner:oid typlen:i2 typbyval:bool typtype:char typcategory:char typispreferred:bool typisdefined:bool typdelim:char typrelid:oid typsubscript:regproc typelem:oid typarray:oid typinput:regproc typoutput:regproc typreceive:regproc typsend:regproc typmodin:regproc typmodout:regproc typanalyze:regproc typalign:char typstorage:char typnotnull:bool typbasetype:oid typtypmod:i4 typndims:i4 typcollation:oid typdefaultbin:text typdefault:text typacl:text[]"),
    ("pg_database", "oid:oid datname:name datdba:oid encoding:i4 datlocprovider:char datistemplate:bool datallowconn:bool datconnlimit:i4 datfrozenxid:i8 datminmxid:i8 dattablespace:oid datcollate:text datctype:text daticulocale:text datcollversion:text datacl:text[]"),
    ("pg_tables", "schemaname:name tablename:name tableowner:name tablespace:name hasindexes:bool hasrules:bool hastriggers:bool rowsecurity:bool"),
    ("pg_views", "schemaname:name viewname:name viewowner:name definition:text"),
    ("pg_matviews", "schemaname:name matviewname:name matviewowner:name tablespace:name hasindexes:bool ispopulated:bool definition:text"),
    ("pg_roles", "oid:oid rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool rolcanlogin:bool rolreplication:bool rolconnlimit:i4 rolpassword:text rolvaliduntil:text rolbypassrls:bool rolconfig:text[]"),
    ("pg_user", "usename:name usesysid:oid usecreatedb:bool usesuper:bool userepl:bool usebypassrls:bool passwd:text valuntil:text useconfig:text[]"),
    ("pg_authid", "oid:oid rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool rolcanlogin:bool rolreplication:bool rolbypassrls:bool rolconnlimit:i4 rolpassword:text rolvaliduntil:text"),
    ("pg_auth_members", "oid:oid roleid:oid member:oid grantor:oid admin_option:bool"),
    ("pg_index", "indexrelid:oid indrelid:oid indnatts:i2 indnkeyatts:i2 indisunique:bool indnullsnotdistinct:bool indisprimary:bool indisexclusion:bool indimmediate:bool indisclustered:bool indisvalid:bool indcheckxmin:bool indisready:bool indislive:bool indisreplident:bool indkey:i2[] indcollation:oid[] indclass:oid[] indoption:i2[] indexprs:text indpred:text"),
    ("pg_indexes", "schemaname:name tablename:name indexname:name tablespace:name indexdef:text"),
    ("pg_constraint", "oid:oid conname:name connamespace:oid contype:char condeferrable:bool condeferred:bool convalidated:bool conrelid:oid contypid:oid conindid:oid conparentid:oid confrelid:oid confupdtype:char confdeltype:char confmatchtype:char conislocal:bool coninhcount:i4 connoinherit:bool conkey:i2[] confkey:i2[] conpfeqop:oid[] conppeqop:oid[] conffeqop:oid[] confdelsetcols:i2[] conexclop:oid[] conbin:text"),
    ("pg_attrdef", "oid:oid adrelid:oid adnum:i2 adbin:text"),
    ("pg_description", "objoid:oid classoid:oid objsubid:i4 description:text"),
    ("pg_shdescription", "objoid:oid classoid:oid description:text"),
    ("pg_inherits", "inhrelid:oid inhparent:oid inhseqno:i4 inhdetachpending:bool"),
    ("pg_am", "oid:oid amname:name amhandler:regproc amtype:char"),
    ("pg_proc", "oid:oid proname:name pronamespace:oid proowner:oid prolang:oid procost:f4 prorows:f4 provariadic:oid prosupport:regproc prokind:char prosecdef:bool proleakproof:bool proisstrict:bool proretset:bool provolatile:char proparallel:char pronargs:i2 pronargdefaults:i2 prorettype:oid proargtypes:text proallargtypes:oid[] proargmodes:text[] proargnames:text[] proargdefaults:text protrftypes:oid[] prosrc:text probin:text prosqlbody:text proconfig:text[] proacl:text[]"),
    ("pg_settings", "name:text setting:text unit:text category:text short_desc:text extra_desc:text context:text vartype:text source:text min_val:text max_val:text enumvals:text[] boot_val:text reset_val:text sourcefile:text sourceline:i4 pending_restart:bool"),
    ("pg_collation", "oid:oid collname:name collnamespace:oid collowner:oid collprovider:char collisdeterministic:bool collencoding:i4 collcollate:text collctype:text colliculocale:text collversion:text"),
    ("pg_policy", "oid:oid polname:name polrelid:oid polcmd:char polpermissive:bool polroles:oid[] polqual:text polwithcheck:text"),
    ("pg_statistic_ext", "oid:oid stxrelid:oid stxname:name stxnamespace:oid stxowner:oid stxstattarget:i4 stxkeys:i2[] stxkind:text[] stxexprs:text"),
    ("pg_publication", "oid:oid pubname:name pubowner:oid puballtables:bool pubinsert:bool pubupdate:bool pubdelete:bool pubtruncate:bool pubviaroot:bool"),
    ("pg_publication_rel", "oid:oid prpubid:oid prrelid:oid prqual:text prattrs:i2[]"),
    ("pg_publication_namespace", "oid:oid pnpubid:oid pnnspid:oid"),
    ("pg_trigger", "oid:oid tgrelid:oid tgparentid:oid tgname:name tgfoid:oid tgtype:i2 tgenabled:char tgisinternal:bool tgconstrrelid:oid tgconstrindid:oid tgconstraint:oid tgdeferrable:bool tginitdeferred:bool tgnargs:i2 tgattr:i2[] tgargs:text tgqual:text tgoldtable:name tgnewtable:name"),
    ("pg_rewrite", "oid:oid rulename:name ev_class:oid ev_type:char ev_enabled:char is_instead:bool ev_qual:text ev_action:text"),
    ("pg_foreign_table", "ftrelid:oid ftserver:oid ftoptions:text[]"),
    ("pg_foreign_server", "oid:oid srvname:name srvowner:oid srvfdw:oid srvtype:text srvversion:text srvacl:text[] srvoptions:text[]"),
    ("pg_partitioned_table", "partrelid:oid partstrat:char partnatts:i2 partdefid:oid partattrs:i2[] partclass:oid[] partcollation:oid[] partexprs:text"),
    ("pg_extension", "oid:oid extname:name extowner:oid extnamespace:oid extrelocatable:bool extversion:text extconfig:oid[] extcondition:text[]"),
    ("pg_enum", "oid:oid enumtypid:oid enumsortorder:f4 enumlabel:name"),
    ("pg_range", "rngtypid:oid rngsubtype:oid rngmultitypid:oid rngcollation:oid rngsubopc:oid rngcanonical:regproc rngsubdiff:regproc"),
    ("pg_depend", "classid:oid objid:oid objsubid:i4 refclassid:oid refobjid:oid refobjsubid:i4 deptype:char"),
    ("pg_sequence", "seqrelid:oid seqtypid:oid seqstart:i8 seqincrement:i8 seqmax:i8 seqmin:i8 seqcache:i8 seqcycle:bool"),
    ("pg_tablespace", "oid:oid spcname:name spcowner:oid spcacl:text[] spcoptions:text[]"),
    ("pg_event_trigger", "oid:oid evtname:name evtevent:name evtowner:oid evtfoid:oid evtenabled:char evttags:text[]"),
    ("pg_opclass", "oid:oid opcmethod:oid opcname:name opcnamespace:oid opcowner:oid opcfamily:oid opcintype:oid opcdefault:bool opckeytype:oid"),
    ("pg_language", "oid:oid lanname:name lanowner:oid lanispl:bool lanpltrusted:bool lanplcallfoid:oid laninline:oid lanvalidator:oid lanacl:text[]"),
    ("pg_stat_activity", "datid:oid datname:name pid:i4 usesysid:oid usename:name application_name:text client_addr:text state:text query:text"),
    ("pg_locks", "locktype:text database:oid relation:oid pid:i4 mode:text granted:bool"),
    ("pg_cast", "oid:oid castsource:oid casttarget:oid castfunc:oid castcontext:char castmethod:char"),
    ("pg_operator", "oid:oid oprname:name oprnamespace:oid oprowner:oid oprkind:char oprcanmerge:bool oprcanhash:bool oprleft:oid oprright:oid oprresult:oid"),
    ("pg_conversion", "oid:oid conname:name connamespace:oid conowner:oid conforencoding:i4 contoencoding:i4 conproc:regproc condefault:bool"),
    ("pg_init_privs", "objoid:oid classoid:oid objsubid:i4 privtype:char initprivs:text[]"),
    ("pg_seclabel", "objoid:oid classoid:oid objsubid:i4 provider:text label:text"),
];

/// `(table, columns)` of `information_schema`.
const INFO_TABLES: &[(&str, &str)] = &[
    ("schemata", "catalog_name:name schema_name:name schema_owner:name default_character_set_catalog:name default_character_set_schema:name default_character_set_name:name sql_path:text"),
    ("tables", "table_catalog:name table_schema:name table_name:name table_type:text self_referencing_column_name:name reference_generation:text user_defined_type_catalog:name user_defined_type_schema:name user_defined_type_name:name is_insertable_into:text is_typed:text commit_action:text"),
    ("columns", "table_catalog:name table_schema:name table_name:name column_name:name ordinal_position:i4 column_default:text is_nullable:text data_type:text character_maximum_length:i4 character_octet_length:i4 numeric_precision:i4 numeric_precision_radix:i4 numeric_scale:i4 datetime_precision:i4 interval_type:text interval_precision:i4 character_set_catalog:name character_set_schema:name character_set_name:name collation_catalog:name collation_schema:name collation_name:name domain_catalog:name domain_schema:name domain_name:name udt_catalog:name udt_schema:name udt_name:name scope_catalog:name scope_schema:name scope_name:name maximum_cardinality:i4 dtd_identifier:name is_self_referencing:text is_identity:text identity_generation:text identity_start:text identity_increment:text identity_maximum:text identity_minimum:text identity_cycle:text is_generated:text generation_expression:text is_updatable:text"),
    ("views", "table_catalog:name table_schema:name table_name:name view_definition:text check_option:text is_updatable:text is_insertable_into:text is_trigger_updatable:text is_trigger_deletable:text is_trigger_insertable_into:text"),
    ("table_constraints", "constraint_catalog:name constraint_schema:name constraint_name:name table_catalog:name table_schema:name table_name:name constraint_type:text is_deferrable:text initially_deferred:text enforced:text nulls_distinct:text"),
    ("key_column_usage", "constraint_catalog:name constraint_schema:name constraint_name:name table_catalog:name table_schema:name table_name:name column_name:name ordinal_position:i4 position_in_unique_constraint:i4"),
    ("referential_constraints", "constraint_catalog:name constraint_schema:name constraint_name:name unique_constraint_catalog:name unique_constraint_schema:name unique_constraint_name:name match_option:text update_rule:text delete_rule:text"),
    ("routines", "specific_catalog:name specific_schema:name specific_name:name routine_catalog:name routine_schema:name routine_name:name routine_type:text data_type:text"),
    ("character_sets", "character_set_catalog:name character_set_schema:name character_set_name:name character_repertoire:name form_of_use:name default_collate_catalog:name default_collate_schema:name default_collate_name:name"),
];

fn schema_oids(snap: &Snapshot) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = snap
        .schemas
        .iter()
        .map(|s| (s.clone(), namespace_oid(s)))
        .collect();
    v.push((PG_CATALOG.to_owned(), PG_CATALOG_OID));
    v.push((INFORMATION_SCHEMA.to_owned(), INFORMATION_SCHEMA_OID));
    v
}

fn type_oid(field: &Field) -> u32 {
    pg_type(field).oid()
}

fn pg_rows(table: &str, snap: &Snapshot) -> Vec<Vec<V>> {
    let o = |oid: u32| V::I(oid as i64);
    match table {
        "pg_namespace" => schema_oids(snap)
            .into_iter()
            .map(|(name, oid)| vec![o(oid), s(name), o(OWNER_OID), V::N])
            .collect(),
        "pg_class" => snap
            .tables
            .iter()
            .map(|t| {
                vec![
                    o(t.oid),
                    s(&t.name),
                    o(namespace_oid(&t.schema)),
                    V::I(0),
                    V::I(0),
                    o(OWNER_OID),
                    V::I(if t.is_view { 0 } else { 2 }),
                    o(t.oid),
                    V::I(0),
                    V::I(0),
                    V::F(-1.0),
                    V::I(0),
                    V::I(0),
                    V::B(false),
                    V::B(false),
                    s("p"),
                    s(if t.is_view { "v" } else { "r" }),
                    i(t.fields.len() as i64),
                    V::I(0),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(true),
                    s("d"),
                    V::B(false),
                    V::I(0),
                    V::I(0),
                    V::I(0),
                    V::N,
                    V::N,
                    V::N,
                ]
            })
            .collect(),
        "pg_attribute" => snap
            .tables
            .iter()
            .flat_map(|t| {
                t.fields.iter().enumerate().map(move |(n, f)| {
                    let ty = types::by_oid(type_oid(f));
                    vec![
                        o(t.oid),
                        s(f.name()),
                        o(type_oid(f)),
                        V::I(-1),
                        V::I(ty.map(|t| t.len as i64).unwrap_or(-1)),
                        V::I(n as i64 + 1),
                        V::I(ty.map(|t| (t.category == "A") as i64).unwrap_or(0)),
                        V::I(-1),
                        V::I(-1),
                        V::B(ty.map(|t| t.byval).unwrap_or(false)),
                        s("i"),
                        // Fixed-length types are stored plain, varlena extended.
                        s(if ty.is_some_and(|t| t.len > 0) {
                            "p"
                        } else {
                            "x"
                        }),
                        s(""),
                        V::B(!f.is_nullable()),
                        V::B(false),
                        V::B(false),
                        s(""),
                        s(""),
                        V::B(false),
                        V::B(true),
                        V::I(0),
                        V::I(if pg_type(f) == pgwire::api::Type::TEXT {
                            100
                        } else {
                            0
                        }),
                        V::N,
                        V::N,
                        V::N,
                        V::N,
                    ]
                })
            })
            .collect(),
        "pg_type" => types::PG_TYPES
            .iter()
            .map(|t| {
                vec![
                    o(t.oid),
                    s(t.name),
                    o(PG_CATALOG_OID),
                    o(OWNER_OID),
                    V::I(t.len as i64),
                    V::B(t.byval),
                    s(if t.category == "P" { "p" } else { "b" }),
                    s(t.category),
                    V::B(false),
                    V::B(true),
                    s(","),
                    V::I(0),
                    s("-"),
                    o(t.elem),
                    o(t.array),
                    s(format!("{}in", t.name)),
                    s(format!("{}out", t.name)),
                    s(format!("{}recv", t.name)),
                    s(format!("{}send", t.name)),
                    s("-"),
                    s("-"),
                    s("-"),
                    s(if t.len == 8 { "d" } else { "i" }),
                    s(if t.len == -1 { "x" } else { "p" }),
                    V::B(false),
                    V::I(0),
                    V::I(-1),
                    V::I(0),
                    V::I(if t.oid == 25 || t.oid == 1043 { 100 } else { 0 }),
                    V::N,
                    V::N,
                    V::N,
                ]
            })
            .collect(),
        "pg_database" => vec![vec![
            o(DATABASE_OID),
            s(&snap.database),
            o(OWNER_OID),
            V::I(6),
            s("c"),
            V::B(false),
            V::B(true),
            V::I(-1),
            V::I(0),
            V::I(0),
            V::I(1663),
            s("C.UTF-8"),
            s("C.UTF-8"),
            V::N,
            V::N,
            V::N,
        ]],
        "pg_tables" => snap
            .tables
            .iter()
            .filter(|t| !t.is_view)
            .map(|t| {
                vec![
                    s(&t.schema),
                    s(&t.name),
                    s("trail"),
                    V::N,
                    V::B(false),
                    V::B(false),
                    V::B(false),
                    V::B(false),
                ]
            })
            .collect(),
        "pg_views" => snap
            .tables
            .iter()
            .filter(|t| t.is_view)
            .map(|t| vec![s(&t.schema), s(&t.name), s("trail"), V::N])
            .collect(),
        "pg_roles" | "pg_authid" => {
            let mut row = vec![o(OWNER_OID), s("trail")];
            row.extend([false, true, false, false, true, false].map(V::B));
            if table == "pg_roles" {
                row.extend([V::I(-1), s("********"), V::N, V::B(false), V::N]);
            } else {
                row.extend([V::B(false), V::I(-1), V::N, V::N]);
            }
            vec![row]
        }
        "pg_user" => vec![vec![
            s("trail"),
            o(OWNER_OID),
            V::B(false),
            V::B(false),
            V::B(false),
            V::B(false),
            s("********"),
            V::N,
            V::N,
        ]],
        "pg_am" => vec![vec![o(2), s("heap"), s("heap_tableam_handler"), s("t")]],
        "pg_tablespace" => vec![vec![o(1663), s("pg_default"), o(OWNER_OID), V::N, V::N]],
        "pg_collation" => vec![vec![
            o(100),
            s("default"),
            o(PG_CATALOG_OID),
            o(OWNER_OID),
            s("d"),
            V::B(true),
            V::I(-1),
            V::N,
            V::N,
            V::N,
            V::N,
        ]],
        "pg_settings" => crate::session::DEFAULT_SETTINGS
            .iter()
            .map(|(name, value)| {
                let mut row = vec![s(*name), s(*value)];
                row.extend(std::iter::repeat_n(V::N, 15));
                row
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn info_rows(table: &str, snap: &Snapshot) -> Vec<Vec<V>> {
    let db = &snap.database;
    match table {
        "schemata" => schema_oids(snap)
            .into_iter()
            .map(|(name, _)| vec![s(db), s(name), s("trail"), V::N, V::N, V::N, V::N])
            .collect(),
        "tables" => snap
            .tables
            .iter()
            .map(|t| {
                vec![
                    s(db),
                    s(&t.schema),
                    s(&t.name),
                    s(if t.is_view { "VIEW" } else { "BASE TABLE" }),
                    V::N,
                    V::N,
                    V::N,
                    V::N,
                    V::N,
                    s("NO"),
                    s("NO"),
                    V::N,
                ]
            })
            .collect(),
        "views" => snap
            .tables
            .iter()
            .filter(|t| t.is_view)
            .map(|t| {
                let mut row = vec![s(db), s(&t.schema), s(&t.name), V::N, s("NONE")];
                row.extend(std::iter::repeat_n(s("NO"), 5));
                row
            })
            .collect(),
        "columns" => snap
            .tables
            .iter()
            .flat_map(|t| {
                t.fields.iter().enumerate().map(move |(n, f)| {
                    let oid = type_oid(f);
                    let ty = types::by_oid(oid);
                    let data_type = match ty {
                        Some(t) if t.category == "A" => "ARRAY".to_owned(),
                        Some(t) => t.display.to_owned(),
                        None => "text".to_owned(),
                    };
                    let (precision, radix, scale) = match f.data_type() {
                        DataType::Int16 | DataType::Int8 | DataType::UInt8 => (i(16), i(2), i(0)),
                        DataType::Int32 | DataType::UInt16 => (i(32), i(2), i(0)),
                        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => {
                            (i(64), i(2), i(0))
                        }
                        DataType::Float32 => (i(24), i(2), V::N),
                        DataType::Float64 => (i(53), i(2), V::N),
                        DataType::Decimal128(p, sc) => (i(*p as i64), i(10), i(*sc as i64)),
                        _ => (V::N, V::N, V::N),
                    };
                    let datetime_precision = match oid {
                        1082 => i(0),
                        1114 | 1184 | 1083 => i(6),
                        _ => V::N,
                    };
                    let mut row = vec![
                        s(db),
                        s(&t.schema),
                        s(&t.name),
                        s(f.name()),
                        i(n as i64 + 1),
                        V::N,
                        s(if f.is_nullable() { "YES" } else { "NO" }),
                        s(data_type),
                        V::N,
                        if oid == 25 { i(1_073_741_824) } else { V::N },
                        precision,
                        radix,
                        scale,
                        datetime_precision,
                    ];
                    row.extend(std::iter::repeat_n(V::N, 11));
                    row.extend([
                        s(db),
                        s(PG_CATALOG),
                        s(ty.map(|t| t.name).unwrap_or("text")),
                    ]);
                    row.extend(std::iter::repeat_n(V::N, 4));
                    row.push(s((n + 1).to_string()));
                    row.push(s("NO"));
                    row.push(s("NO"));
                    row.extend(std::iter::repeat_n(V::N, 6));
                    row.push(s("NEVER"));
                    row.push(V::N);
                    row.push(s("NO"));
                    row
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_builds_empty() {
        for (name, spec) in PG_TABLES.iter().chain(INFO_TABLES) {
            let batch = build(spec, vec![]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(batch.num_rows(), 0);
        }
    }

    #[test]
    fn regclass_matches_relation_oid() {
        assert_eq!(regclass_oid("events"), relation_oid("public", "events"));
        assert_eq!(
            regclass_oid("heap_export.\"events\""),
            relation_oid("heap_export", "events")
        );
        assert!(relation_oid("public", "events") < i32::MAX as u32);
    }
}
