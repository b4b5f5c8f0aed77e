//! The functions a transform's statement may call, by dialect: an allow-list of what reads and
//! computes values (string, numeric, date/time, JSON, conditional, aggregate, window), so that
//! anything that reaches outside the statement (files, programs, other sessions, locks,
//! sequences, server settings, query text run by the server) is refused by not being listed,
//! including functions a database adds in a later version.
//!
//! Left out on purpose, though they only compute: functions that make a large value from a
//! small input (`repeat`, `lpad`, `rpad`, `space`, `zeroblob`, `randomblob`), since the host
//! holds every value a transform reads; and functions whose answer is session state or
//! randomness the revision cannot reproduce (`random`, `last_insert_id`, `found_rows`).

use crate::dialect_kind::Dialect;

/// Functions every dialect has under the same name and meaning.
const COMMON: &[&str] = &[
    // conditional
    "coalesce",
    "nullif",
    // numeric
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "sign",
    "mod",
    "power",
    "pow",
    "sqrt",
    "exp",
    "ln",
    "log",
    "log10",
    "pi",
    // string
    "lower",
    "upper",
    "length",
    "substr",
    "substring",
    "trim",
    "ltrim",
    "rtrim",
    "replace",
    "concat",
    "concat_ws",
    // aggregate
    "count",
    "sum",
    "avg",
    "min",
    "max",
    // window
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // date and time (the database's clock: the sandbox gives the transform none of its own)
    "current_date",
    "current_time",
    "current_timestamp",
];

const POSTGRES: &[&str] = &[
    "greatest",
    "least",
    "num_nulls",
    "num_nonnulls",
    // numeric
    "trunc",
    "cbrt",
    "degrees",
    "radians",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "div",
    "gcd",
    "lcm",
    "width_bucket",
    "scale",
    "min_scale",
    "trim_scale",
    // string
    "initcap",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "btrim",
    "translate",
    "reverse",
    "left",
    "right",
    "split_part",
    "strpos",
    "position",
    "starts_with",
    "overlay",
    "regexp_replace",
    "regexp_match",
    "regexp_matches",
    "regexp_like",
    "regexp_count",
    "regexp_substr",
    "regexp_instr",
    "regexp_split_to_array",
    "string_to_array",
    "array_to_string",
    "md5",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "encode",
    "decode",
    "convert_from",
    "convert_to",
    "to_hex",
    "ascii",
    "chr",
    "format",
    "quote_ident",
    "quote_literal",
    "quote_nullable",
    "normalize",
    "to_char",
    "to_number",
    "to_date",
    "to_timestamp",
    "gen_random_uuid",
    // date and time
    "now",
    "localtime",
    "localtimestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "date_trunc",
    "date_part",
    "date_bin",
    "extract",
    "age",
    "make_date",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "make_interval",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "isfinite",
    "timezone",
    // JSON
    "to_json",
    "to_jsonb",
    "row_to_json",
    "array_to_json",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "json_object",
    "jsonb_object",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "json_array_length",
    "jsonb_array_length",
    "json_extract_path",
    "jsonb_extract_path",
    "json_extract_path_text",
    "jsonb_extract_path_text",
    "json_typeof",
    "jsonb_typeof",
    "json_strip_nulls",
    "jsonb_strip_nulls",
    "jsonb_set",
    "jsonb_set_lax",
    "jsonb_insert",
    "jsonb_pretty",
    "jsonb_path_exists",
    "jsonb_path_match",
    "jsonb_path_query_first",
    "json_each",
    "json_each_text",
    "jsonb_each",
    "jsonb_each_text",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_object_keys",
    "jsonb_object_keys",
    // aggregate
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "array_agg",
    "bit_and",
    "bit_or",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "percentile_cont",
    "percentile_disc",
    "mode",
    // arrays
    "array",
    "array_length",
    "cardinality",
    "array_position",
    "array_positions",
    "array_append",
    "array_prepend",
    "array_cat",
    "array_remove",
    "array_replace",
    "array_lower",
    "array_upper",
    "unnest",
    // text search that only computes (not ts_stat or ts_rewrite, which run query text)
    "to_tsvector",
    "to_tsquery",
    "plainto_tsquery",
    "phraseto_tsquery",
    "websearch_to_tsquery",
];

const MYSQL: &[&str] = &[
    "greatest",
    "least",
    "ifnull",
    "if",
    "isnull",
    // numeric
    "truncate",
    "degrees",
    "radians",
    "sin",
    "cos",
    "tan",
    "cot",
    "asin",
    "acos",
    "atan",
    "atan2",
    "log2",
    "conv",
    "crc32",
    "bin",
    "oct",
    // string
    "lcase",
    "ucase",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "substring_index",
    "mid",
    "reverse",
    "left",
    "right",
    "locate",
    "position",
    "instr",
    "field",
    "find_in_set",
    "elt",
    "format",
    "strcmp",
    "soundex",
    "hex",
    "unhex",
    "md5",
    "sha",
    "sha1",
    "sha2",
    "to_base64",
    "from_base64",
    "ascii",
    "ord",
    "char",
    "insert",
    "quote",
    "regexp_replace",
    "regexp_substr",
    "regexp_instr",
    "regexp_like",
    "uuid",
    // date and time
    "now",
    "curdate",
    "curtime",
    "localtime",
    "localtimestamp",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "date",
    "time",
    "timestamp",
    "date_format",
    "time_format",
    "date_add",
    "date_sub",
    "adddate",
    "subdate",
    "addtime",
    "subtime",
    "datediff",
    "timediff",
    "timestampdiff",
    "timestampadd",
    "time_to_sec",
    "sec_to_time",
    "str_to_date",
    "from_unixtime",
    "unix_timestamp",
    "year",
    "month",
    "day",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "hour",
    "minute",
    "second",
    "microsecond",
    "week",
    "weekday",
    "weekofyear",
    "yearweek",
    "quarter",
    "last_day",
    "makedate",
    "maketime",
    "monthname",
    "dayname",
    "extract",
    "convert_tz",
    "period_add",
    "period_diff",
    "to_days",
    "from_days",
    "to_seconds",
    // JSON
    "json_extract",
    "json_unquote",
    "json_object",
    "json_array",
    "json_set",
    "json_insert",
    "json_replace",
    "json_remove",
    "json_contains",
    "json_contains_path",
    "json_keys",
    "json_length",
    "json_type",
    "json_valid",
    "json_quote",
    "json_merge_patch",
    "json_merge_preserve",
    "json_value",
    "json_search",
    "json_depth",
    "json_arrayagg",
    "json_objectagg",
    // aggregate
    "group_concat",
    "bit_and",
    "bit_or",
    "bit_xor",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
];

const SQLITE: &[&str] = &[
    "ifnull",
    "iif",
    "if",
    "instr",
    "char",
    "unicode",
    "hex",
    "unhex",
    "quote",
    "typeof",
    "glob",
    "like",
    "likely",
    "unlikely",
    "likelihood",
    "printf",
    "format",
    "soundex",
    "octet_length",
    "trunc",
    "log2",
    "degrees",
    "radians",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    // date and time
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    // JSON
    "json",
    "jsonb",
    "json_array",
    "jsonb_array",
    "json_array_length",
    "json_extract",
    "jsonb_extract",
    "json_insert",
    "jsonb_insert",
    "json_object",
    "jsonb_object",
    "json_patch",
    "jsonb_patch",
    "json_remove",
    "jsonb_remove",
    "json_replace",
    "jsonb_replace",
    "json_set",
    "jsonb_set",
    "json_type",
    "json_valid",
    "json_quote",
    "json_group_array",
    "jsonb_group_array",
    "json_group_object",
    "jsonb_group_object",
    // aggregate
    "group_concat",
    "string_agg",
    "total",
];

/// Functions that return rows, usable in FROM.
fn table_functions(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Postgres => &[
            "generate_series",
            "unnest",
            "json_each",
            "json_each_text",
            "jsonb_each",
            "jsonb_each_text",
            "json_array_elements",
            "json_array_elements_text",
            "jsonb_array_elements",
            "jsonb_array_elements_text",
            "json_object_keys",
            "jsonb_object_keys",
            "regexp_split_to_table",
            "string_to_table",
        ],
        Dialect::Sqlite => &["json_each", "json_tree", "jsonb_each", "jsonb_tree"],
        Dialect::Mysql => &[],
    }
}

/// True if a statement may call the function `name` (in lower case) in an expression.
pub fn allowed(dialect: Dialect, name: &str) -> bool {
    let own = match dialect {
        Dialect::Postgres => POSTGRES,
        Dialect::Mysql => MYSQL,
        Dialect::Sqlite => SQLITE,
    };
    COMMON.contains(&name) || own.contains(&name)
}

/// Functions that fold many rows into one (aggregates) or look across rows (window
/// functions), on any dialect: a query that calls one does not return one row for each row
/// it reads, so a cursor cannot read it page by page (`keyset.rs`).
const ACROSS_ROWS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "total",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "array_agg",
    "group_concat",
    "bit_and",
    "bit_or",
    "bit_xor",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "json_arrayagg",
    "json_objectagg",
    "json_group_array",
    "json_group_object",
];

/// True if `name` (in lower case) is an aggregate or window function on some database.
pub fn across_rows(name: &str) -> bool {
    ACROSS_ROWS.contains(&name)
}

/// True if a statement may read from the table function `name` (in lower case).
pub fn table_function_allowed(dialect: Dialect, name: &str) -> bool {
    table_functions(dialect).contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aggregate_and_window_function_allowed_is_known_to_read_across_rows() {
        // The lists mark them with `// aggregate` and `// window`; JSON's aggregates end in
        // `agg` or are SQLite's `json_group_*`.
        let source = include_str!("functions.rs");
        let mut marked = false;
        for line in source.lines().map(str::trim) {
            if line.starts_with("//") {
                marked = line == "// aggregate" || line == "// window";
                continue;
            }
            let Some(name) = line.strip_prefix('"').and_then(|l| l.strip_suffix("\",")) else {
                marked = marked && !line.starts_with(']');
                continue;
            };
            if marked || name.ends_with("agg") || name.starts_with("json_group_") {
                assert!(
                    across_rows(name),
                    "{name} reads across rows: add it to ACROSS_ROWS"
                );
            }
        }
        for name in ACROSS_ROWS {
            assert!(
                Dialect::ALL.iter().any(|d| allowed(*d, name)),
                "{name} is allowed nowhere"
            );
        }
    }

    #[test]
    fn the_lists_hold_lower_case_names_once_each() {
        for list in [COMMON, POSTGRES, MYSQL, SQLITE] {
            for name in list {
                assert_eq!(*name, name.to_ascii_lowercase());
            }
        }
        for dialect in Dialect::ALL {
            let own = match dialect {
                Dialect::Postgres => POSTGRES,
                Dialect::Mysql => MYSQL,
                Dialect::Sqlite => SQLITE,
            };
            let mut all: Vec<&str> = COMMON.iter().chain(own).copied().collect();
            all.sort_unstable();
            let before = all.len();
            all.dedup();
            assert_eq!(before, all.len(), "{dialect}: a name is listed twice");
        }
    }

    #[test]
    fn functions_that_reach_outside_are_not_listed() {
        let outside = [
            (Dialect::Postgres, "pg_read_file"),
            (Dialect::Postgres, "ts_stat"),
            (Dialect::Postgres, "ts_rewrite"),
            (Dialect::Postgres, "pg_create_physical_replication_slot"),
            (Dialect::Postgres, "pg_stat_get_activity"),
            (Dialect::Postgres, "set_config"),
            (Dialect::Postgres, "nextval"),
            (Dialect::Postgres, "query_to_xml"),
            (Dialect::Postgres, "dblink"),
            (Dialect::Mysql, "load_file"),
            (Dialect::Mysql, "sleep"),
            (Dialect::Mysql, "release_all_locks"),
            (Dialect::Mysql, "setval"),
            (Dialect::Mysql, "nextval"),
            (Dialect::Mysql, "last_insert_id"),
            (Dialect::Sqlite, "load_extension"),
            (Dialect::Sqlite, "readfile"),
            (Dialect::Sqlite, "zeroblob"),
            (Dialect::Sqlite, "random"),
        ];
        for (dialect, name) in outside {
            assert!(!allowed(dialect, name), "{dialect} {name}");
            assert!(!table_function_allowed(dialect, name), "{dialect} {name}");
        }
        assert!(!table_function_allowed(Dialect::Sqlite, "dbstat"));
        assert!(!table_function_allowed(
            Dialect::Postgres,
            "pg_show_all_file_settings"
        ));
    }
}
