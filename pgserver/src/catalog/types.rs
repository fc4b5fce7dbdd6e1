//! The PostgreSQL types Trail sends, as `pg_type` rows and `format_type` names.

/// One row of `pg_type`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgTypeRow {
    pub(crate) oid: u32,
    pub(crate) name: &'static str,
    /// `format_type()` output.
    pub(crate) display: &'static str,
    pub(crate) len: i16,
    pub(crate) byval: bool,
    pub(crate) category: &'static str,
    pub(crate) elem: u32,
    pub(crate) array: u32,
}

// One argument per `pg_type` column keeps the table below one row per line.
#[allow(clippy::too_many_arguments)]
const fn t(
    oid: u32,
    name: &'static str,
    display: &'static str,
    len: i16,
    byval: bool,
    category: &'static str,
    elem: u32,
    array: u32,
) -> PgTypeRow {
    PgTypeRow {
        oid,
        name,
        display,
        len,
        byval,
        category,
        elem,
        array,
    }
}

/// Every type in `pg_type`.
pub(crate) const PG_TYPES: &[PgTypeRow] = &[
    t(16, "bool", "boolean", 1, true, "B", 0, 1000),
    t(17, "bytea", "bytea", -1, false, "U", 0, 1001),
    t(18, "char", "\"char\"", 1, true, "Z", 0, 1002),
    t(19, "name", "name", 64, false, "S", 18, 1003),
    t(20, "int8", "bigint", 8, true, "N", 0, 1016),
    t(21, "int2", "smallint", 2, true, "N", 0, 1005),
    t(22, "int2vector", "int2vector", -1, false, "A", 21, 1006),
    t(23, "int4", "integer", 4, true, "N", 0, 1007),
    t(24, "regproc", "regproc", 4, true, "N", 0, 1008),
    t(25, "text", "text", -1, false, "S", 0, 1009),
    t(26, "oid", "oid", 4, true, "N", 0, 1028),
    t(114, "json", "json", -1, false, "U", 0, 199),
    t(700, "float4", "real", 4, true, "N", 0, 1021),
    t(701, "float8", "double precision", 8, true, "N", 0, 1022),
    t(705, "unknown", "unknown", -2, false, "X", 0, 0),
    t(1042, "bpchar", "character", -1, false, "S", 0, 1014),
    t(
        1043,
        "varchar",
        "character varying",
        -1,
        false,
        "S",
        0,
        1015,
    ),
    t(1082, "date", "date", 4, true, "D", 0, 1182),
    t(
        1083,
        "time",
        "time without time zone",
        8,
        true,
        "D",
        0,
        1183,
    ),
    t(
        1114,
        "timestamp",
        "timestamp without time zone",
        8,
        true,
        "D",
        0,
        1115,
    ),
    t(
        1184,
        "timestamptz",
        "timestamp with time zone",
        8,
        true,
        "D",
        0,
        1185,
    ),
    t(1186, "interval", "interval", 16, false, "T", 0, 1187),
    t(1700, "numeric", "numeric", -1, false, "N", 0, 1231),
    t(2205, "regclass", "regclass", 4, true, "N", 0, 2210),
    t(2206, "regtype", "regtype", 4, true, "N", 0, 2211),
    t(2249, "record", "record", -1, false, "P", 0, 2287),
    t(2278, "void", "void", 4, true, "P", 0, 0),
    t(3802, "jsonb", "jsonb", -1, false, "U", 0, 3807),
    t(2950, "uuid", "uuid", 16, false, "U", 0, 2951),
    t(1000, "_bool", "boolean[]", -1, false, "A", 16, 0),
    t(1001, "_bytea", "bytea[]", -1, false, "A", 17, 0),
    t(1002, "_char", "\"char\"[]", -1, false, "A", 18, 0),
    t(1003, "_name", "name[]", -1, false, "A", 19, 0),
    t(1005, "_int2", "smallint[]", -1, false, "A", 21, 0),
    t(1007, "_int4", "integer[]", -1, false, "A", 23, 0),
    t(1009, "_text", "text[]", -1, false, "A", 25, 0),
    t(1014, "_bpchar", "character[]", -1, false, "A", 1042, 0),
    t(
        1015,
        "_varchar",
        "character varying[]",
        -1,
        false,
        "A",
        1043,
        0,
    ),
    t(1016, "_int8", "bigint[]", -1, false, "A", 20, 0),
    t(1021, "_float4", "real[]", -1, false, "A", 700, 0),
    t(
        1022,
        "_float8",
        "double precision[]",
        -1,
        false,
        "A",
        701,
        0,
    ),
    t(1028, "_oid", "oid[]", -1, false, "A", 26, 0),
    t(
        1115,
        "_timestamp",
        "timestamp without time zone[]",
        -1,
        false,
        "A",
        1114,
        0,
    ),
    t(1182, "_date", "date[]", -1, false, "A", 1082, 0),
    t(
        1185,
        "_timestamptz",
        "timestamp with time zone[]",
        -1,
        false,
        "A",
        1184,
        0,
    ),
    t(1231, "_numeric", "numeric[]", -1, false, "A", 1700, 0),
    t(199, "_json", "json[]", -1, false, "A", 114, 0),
];

/// The `pg_type` row for `oid`.
pub(crate) fn by_oid(oid: u32) -> Option<&'static PgTypeRow> {
    PG_TYPES.iter().find(|t| t.oid == oid)
}

/// The type named `name` (`int4`, `integer`, `text[]`, `pg_catalog.int8`…).
pub(crate) fn by_name(name: &str) -> Option<&'static PgTypeRow> {
    let n = name.trim().trim_matches('"').to_ascii_lowercase();
    let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
    let alias = match n {
        "int" | "integer" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "boolean" => "bool",
        "real" => "float4",
        "double precision" => "float8",
        "character varying" => "varchar",
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        other => other,
    };
    if let Some(elem) = alias.strip_suffix("[]") {
        let e = by_name(elem)?;
        return by_oid(e.array);
    }
    PG_TYPES
        .iter()
        .find(|t| t.name == alias || t.display == alias)
}

/// `format_type(oid, typmod)`.
pub(crate) fn format_type(oid: u32) -> String {
    by_oid(oid)
        .map(|t| t.display.to_owned())
        .unwrap_or_else(|| "???".to_owned())
}
