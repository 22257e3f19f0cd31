// Statement classification over the SQL tokenizer. It errs towards the
// primary: whatever it cannot show to be a read is not Read.
#include "route/classifier.hpp"
#include "core/ascii.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "route/sql_lexer.hpp"

namespace pggate::route {

namespace {

using Tokens = std::span<const Token>;

// Built-in functions that write nothing and answer alike on a replica and
// on the primary. Left out on purpose: whatever writes, locks or signals
// (nextval, setval, set_config, advisory locks, lo_*, pg_notify,
// txid_current, pg_terminate_backend, ...); whatever depends on earlier
// statements of the session (currval, lastval, setseed,
// pg_listening_channels); whatever describes the node rather than the data
// (pg_is_in_recovery, pg_current_wal_lsn, pg_read_file, ...); whatever runs
// SQL text of its own (query_to_xml, ts_stat, ts_rewrite); and extensions'
// functions, whose names a user may reuse.
const std::unordered_set<std::string_view>& builtins() {
    static const std::unordered_set<std::string_view> names = {
        // SQL-standard constructs written like calls
        "cast", "coalesce", "nullif", "greatest", "least", "extract", "overlaps", "position", "substring", "trim",
        "overlay", "normalize", "treat", "xmlattributes", "xmlconcat", "xmlelement", "xmlexists", "xmlforest",
        "xmlparse", "xmlpi", "xmlroot", "xmlserialize", "xmltable", "json", "json_array", "json_arrayagg",
        "json_object", "json_objectagg", "json_exists", "json_query", "json_value", "json_scalar", "json_serialize",
        "json_table",
        // type names: casts written as calls and type modifiers ("varchar(10)")
        "bigint", "bit", "bool", "boolean", "bpchar", "bytea", "char", "character", "cidr", "date", "dec", "decimal",
        "float", "float4", "float8", "inet", "int", "int2", "int4", "int8", "integer", "interval", "jsonb", "macaddr",
        "money", "name", "nchar", "numeric", "oid", "real", "regclass", "regproc", "regtype", "smallint", "text",
        "time", "timestamp", "timestamptz", "timetz", "uuid", "varbit", "varchar", "varying", "xml",
        // aggregates
        "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "json_agg", "jsonb_agg", "json_agg_strict",
        "jsonb_agg_strict", "json_object_agg", "jsonb_object_agg", "json_object_agg_strict",
        "jsonb_object_agg_strict", "json_object_agg_unique", "jsonb_object_agg_unique", "bool_and", "bool_or",
        "every", "bit_and", "bit_or", "bit_xor", "xmlagg", "range_agg", "range_intersect_agg", "any_value",
        "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "corr", "covar_pop", "covar_samp",
        "regr_avgx", "regr_avgy", "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy",
        "regr_syy", "mode", "percentile_cont", "percentile_disc", "grouping",
        // window functions
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
        "last_value", "nth_value",
        // mathematics
        "abs", "cbrt", "ceil", "ceiling", "degrees", "div", "exp", "factorial", "floor", "gcd", "lcm", "ln", "log",
        "log10", "min_scale", "mod", "pi", "power", "radians", "round", "scale", "sign", "sqrt", "trim_scale",
        "trunc", "width_bucket", "random", "random_normal", "acos", "acosd", "asin", "asind", "atan", "atand",
        "atan2", "atan2d", "cos", "cosd", "cot", "cotd", "sin", "sind", "tan", "tand", "sinh", "cosh", "tanh",
        "asinh", "acosh", "atanh", "erf", "erfc",
        // strings and binary strings
        "ascii", "bit_length", "btrim", "char_length", "character_length", "chr", "concat", "concat_ws", "format",
        "initcap", "left", "length", "lower", "lpad", "ltrim", "md5", "octet_length", "parse_ident", "quote_ident",
        "quote_literal", "quote_nullable", "regexp_count", "regexp_instr", "regexp_like", "regexp_match",
        "regexp_matches", "regexp_replace", "regexp_split_to_array", "regexp_split_to_table", "regexp_substr",
        "repeat", "replace", "reverse", "right", "rpad", "rtrim", "split_part", "starts_with", "string_to_array",
        "string_to_table", "strpos", "substr", "to_ascii", "to_hex", "translate", "unistr", "upper", "encode",
        "decode", "convert", "convert_from", "convert_to", "sha224", "sha256", "sha384", "sha512", "get_bit",
        "get_byte", "set_bit", "set_byte", "bit_count", "pg_client_encoding", "getdatabaseencoding",
        // formatting
        "to_char", "to_date", "to_number", "to_timestamp",
        // date and time
        "age", "clock_timestamp", "current_date", "current_time", "current_timestamp", "localtime",
        "localtimestamp", "date_add", "date_bin", "date_part", "date_subtract", "date_trunc", "isfinite",
        "justify_days", "justify_hours", "justify_interval", "make_date", "make_interval", "make_time",
        "make_timestamp", "make_timestamptz", "now", "statement_timestamp", "timeofday", "transaction_timestamp",
        "timezone", "pg_sleep", "pg_sleep_for", "pg_sleep_until",
        // enums, ranges, network addresses, geometry
        "enum_first", "enum_last", "enum_range", "isempty", "lower_inc", "upper_inc", "lower_inf", "upper_inf",
        "range_merge", "int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange", "multirange",
        "abbrev", "broadcast", "family", "host", "hostmask", "inet_merge", "inet_same_family", "masklen", "netmask",
        "network", "set_masklen", "area", "center", "diameter", "height", "width", "radius", "npoints", "point",
        "box", "circle", "line", "lseg", "path", "polygon",
        // text search
        "to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery", "ts_rank",
        "ts_rank_cd", "ts_headline", "setweight", "strip", "numnode", "querytree", "tsvector_to_array",
        "array_to_tsvector", "ts_lexize", "ts_parse", "ts_token_type", "ts_debug",
        // uuid
        "gen_random_uuid", "uuidv4", "uuidv7", "uuid_extract_timestamp", "uuid_extract_version",
        // json
        "to_json", "to_jsonb", "array_to_json", "row_to_json", "json_build_array", "jsonb_build_array",
        "json_build_object", "jsonb_build_object", "jsonb_object", "json_array_elements", "jsonb_array_elements",
        "json_array_elements_text", "jsonb_array_elements_text", "json_array_length", "jsonb_array_length",
        "json_each", "jsonb_each", "json_each_text", "jsonb_each_text", "json_extract_path", "jsonb_extract_path",
        "json_extract_path_text", "jsonb_extract_path_text", "json_object_keys", "jsonb_object_keys",
        "json_populate_record", "jsonb_populate_record", "json_populate_recordset", "jsonb_populate_recordset",
        "json_to_record", "jsonb_to_record", "json_to_recordset", "jsonb_to_recordset", "json_strip_nulls",
        "jsonb_strip_nulls", "jsonb_set", "jsonb_set_lax", "jsonb_insert", "jsonb_path_exists", "jsonb_path_match",
        "jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_first", "jsonb_pretty", "json_typeof",
        "jsonb_typeof",
        // arrays and set-returning functions
        "array_append", "array_cat", "array_dims", "array_fill", "array_length", "array_lower", "array_ndims",
        "array_position", "array_positions", "array_prepend", "array_remove", "array_replace", "array_to_string",
        "array_upper", "cardinality", "trim_array", "unnest", "generate_series", "generate_subscripts",
        // xml
        "xmlcomment", "xmltext", "xpath", "xpath_exists", "xml_is_well_formed", "xml_is_well_formed_document",
        "xml_is_well_formed_content",
        // session and catalog information
        "current_database", "current_query", "current_schema", "current_schemas", "current_setting",
        "current_user", "current_role", "current_catalog", "session_user", "system_user", "user", "version",
        "pg_backend_pid", "pg_is_other_temp_schema", "pg_trigger_depth", "pg_typeof", "num_nonnulls", "num_nulls",
        "row_security_active", "pg_input_is_valid", "pg_input_error_info", "has_any_column_privilege",
        "has_column_privilege", "has_database_privilege",
        "has_foreign_data_wrapper_privilege", "has_function_privilege", "has_language_privilege",
        "has_parameter_privilege", "has_schema_privilege", "has_sequence_privilege", "has_server_privilege",
        "has_table_privilege", "has_tablespace_privilege", "has_type_privilege", "pg_has_role",
        "pg_table_is_visible", "pg_type_is_visible", "pg_function_is_visible", "pg_collation_is_visible",
        "pg_conversion_is_visible", "pg_opclass_is_visible", "pg_operator_is_visible", "pg_opfamily_is_visible",
        "pg_statistics_obj_is_visible", "format_type", "pg_get_constraintdef", "pg_get_expr",
        "pg_get_functiondef", "pg_get_function_arguments", "pg_get_function_identity_arguments",
        "pg_get_function_result", "pg_get_indexdef", "pg_get_keywords", "pg_get_partkeydef", "pg_get_ruledef",
        "pg_get_serial_sequence", "pg_get_statisticsobjdef", "pg_get_triggerdef", "pg_get_userbyid",
        "pg_get_viewdef", "pg_index_column_has_property", "pg_index_has_property", "pg_indexam_has_property",
        "pg_options_to_table", "pg_tablespace_databases", "to_regclass", "to_regcollation", "to_regnamespace",
        "to_regoper", "to_regoperator", "to_regproc", "to_regprocedure", "to_regrole", "to_regtype",
        "col_description", "obj_description", "shobj_description", "pg_describe_object", "pg_identify_object",
        "pg_identify_object_as_address", "pg_get_object_address", "pg_column_size", "pg_column_compression",
        "pg_database_size", "pg_indexes_size", "pg_relation_size", "pg_size_bytes", "pg_size_pretty",
        "pg_table_size", "pg_tablespace_size", "pg_total_relation_size", "pg_partition_tree",
        "pg_partition_ancestors", "pg_partition_root", "pg_encoding_to_char", "pg_char_to_encoding",
    };
    return names;
}

// Keywords that can stand before "(" without calling a function. Only
// words PostgreSQL never takes for a function name there, and GROUP BY's
// CUBE, ROLLUP and GROUPING SETS: a user function of one of those names
// would be taken for the construct, which is worth the common analytic
// query. Other parentheses after a word are told apart by position (see
// is_call); a word missing here only sends a read to the primary.
const std::unordered_set<std::string_view>& not_calls() {
    static const std::unordered_set<std::string_view> words = {
        "all",      "and",   "any",      "array",   "as",        "asymmetric", "between",   "both",
        "by",       "case",  "cube",     "default", "distinct",  "else",       "except",    "exists",
        "for",      "from",  "group",    "having",  "ilike",     "in",         "intersect", "into",
        "is",       "join",  "lateral",  "leading", "like",      "limit",      "not",       "offset",
        "on",       "only",  "operator", "or",      "placing",   "returning",  "rollup",    "row",
        "select",   "sets",  "similar",  "some",    "symmetric", "table",      "then",      "to",
        "trailing", "union", "using",    "values",  "when",      "where",      "window",    "with",
    };
    return words;
}

// Built-ins that write, lock or signal, named in the reason as "function <name>".
constexpr std::string_view kFunctionPrefix = "function ";
constexpr const char* kWritingBuiltins[] = {
    "function nextval",
    "function setval",
    "function set_config",
    "function pg_advisory_lock",
    "function pg_advisory_lock_shared",
    "function pg_advisory_xact_lock",
    "function pg_advisory_xact_lock_shared",
    "function pg_try_advisory_lock",
    "function pg_try_advisory_lock_shared",
    "function pg_try_advisory_xact_lock",
    "function pg_try_advisory_xact_lock_shared",
    "function pg_advisory_unlock",
    "function pg_advisory_unlock_shared",
    "function pg_advisory_unlock_all",
    "function pg_notify",
    "function txid_current",
    "function pg_current_xact_id",
    "function pg_terminate_backend",
    "function pg_cancel_backend",
    "function pg_reload_conf",
    "function pg_switch_wal",
    "function pg_create_restore_point",
};

// Statements that always run on the primary, by first word.
constexpr std::pair<std::string_view, const char*> kWriteStatements[] = {
    {"insert", "INSERT"},
    {"update", "UPDATE"},
    {"delete", "DELETE"},
    {"merge", "MERGE"},
    {"truncate", "TRUNCATE"},
    {"create", "CREATE"},
    {"alter", "ALTER"},
    {"drop", "DROP"},
    {"comment", "COMMENT"},
    {"grant", "GRANT"},
    {"revoke", "REVOKE"},
    {"reindex", "REINDEX"},
    {"cluster", "CLUSTER"},
    {"refresh", "REFRESH MATERIALIZED VIEW"},
    {"vacuum", "VACUUM"},
    {"analyze", "ANALYZE"},
    {"analyse", "ANALYZE"},
    {"lock", "LOCK"},
    {"call", "CALL"},
    {"do", "DO"},
    // Notifications reach only the listeners of the node that sent them, and
    // a replica never gets the primary's: LISTEN, UNLISTEN and NOTIFY all go
    // to the primary.
    {"notify", "NOTIFY"},
    {"listen", "LISTEN"},
    {"unlisten", "UNLISTEN"},
    {"checkpoint", "CHECKPOINT"},
    {"security", "SECURITY LABEL"},
    {"import", "IMPORT FOREIGN SCHEMA"},
    {"reassign", "REASSIGN OWNED"},
    // The prepared statement's text is not here to look at; a caller that
    // knows it can classify that instead.
    {"execute", "EXECUTE"},
};

const char* statement_write(std::string_view first_word) {
    for (const auto& [word, reason] : kWriteStatements)
        if (word == first_word) return reason;
    return nullptr;
}

std::uint64_t next_stamp() {
    static std::atomic<std::uint64_t> last{0};
    return ++last;
}

Classification of_kind(StatementKind kind, const char* reason = nullptr) {
    Classification c;
    c.kind = kind;
    c.reason = reason;
    return c;
}
Classification read() { return of_kind(StatementKind::Read); }
Classification write(const char* reason) { return of_kind(StatementKind::Write, reason); }
Classification unknown(const char* reason) { return of_kind(StatementKind::Unknown, reason); }

void set_access_mode(Classification& c, bool read_only) {
    c.read_only_setting = read_only;
    c.read_write_setting = !read_only;
}

bool is_name(const Token& t) { return t.kind == TokenKind::Word || t.kind == TokenKind::QuotedIdent; }

bool is_name(Tokens st, std::size_t i, std::string_view name) {
    return i < st.size() && is_name(st[i]) && st[i].text == name;
}

// PostgreSQL's boolean spellings: true/false/yes/no and their prefixes,
// on/off (at least two letters), 1/0; any case.
std::optional<bool> parse_bool(std::string_view v) {
    auto spells = [v](std::string_view word, std::size_t min_length) {
        return v.size() >= min_length && v.size() <= word.size() && iequals(v, word.substr(0, v.size()));
    };
    if (spells("true", 1) || spells("yes", 1) || spells("on", 2) || v == "1") return true;
    if (spells("false", 1) || spells("no", 1) || spells("off", 2) || v == "0") return false;
    return std::nullopt;
}

// A value token's text as a boolean: a word, a number or a plain '...' string.
std::optional<bool> bool_token(const Token& t) {
    std::string_view v = t.text;
    if (t.kind == TokenKind::String) {
        if (v.size() < 2 || v.front() != '\'') return std::nullopt;
        v = v.substr(1, v.size() - 2);
    } else if (t.kind != TokenKind::Word && t.kind != TokenKind::Number) {
        return std::nullopt;
    }
    return parse_bool(v);
}

// The index of the ")" that closes the "(" at `open`; st.size() if none does.
std::size_t matching(Tokens st, std::size_t open) {
    int depth = 0;
    for (std::size_t i = open; i < st.size(); ++i) {
        if (is_punct(st, i, "(")) ++depth;
        if (is_punct(st, i, ")") && --depth == 0) return i;
    }
    return st.size();
}

// The index just past a possibly qualified name starting at `i`.
std::size_t after_name(Tokens st, std::size_t i) {
    while (i < st.size() && is_name(st[i])) {
        ++i;
        if (!is_punct(st, i, ".")) break;
        ++i;
    }
    return i;
}

// "schema.f" as written before "(" at token `i`, in `buf`; "f" alone if it
// is not qualified. Empty if longer than any PostgreSQL name can be.
std::string_view call_name(Tokens q, std::size_t i, std::array<char, 160>& buf) {
    if (i < 2 || !is_punct(q, i - 1, ".") || !is_name(q[i - 2])) return q[i].text;
    const std::string& schema = q[i - 2].text;
    const std::string& name = q[i].text;
    if (schema.size() + 1 + name.size() > buf.size()) return {};
    auto end = std::copy(schema.begin(), schema.end(), buf.begin());
    *end++ = '.';
    end = std::copy(name.begin(), name.end(), end);
    return {buf.data(), static_cast<std::size_t>(end - buf.begin())};
}

// Whether the "(" at `open` holds the column names of a WITH query:
// "name(a, b) AS [[NOT] MATERIALIZED] (".
bool names_with_query(Tokens q, std::size_t open) {
    std::size_t close = matching(q, open);
    return is_word(q, close + 1, "as") &&
           (is_punct(q, close + 2, "(") || is_word(q, close + 2, "materialized") || is_word(q, close + 2, "not"));
}

// The index of the "(" that the ")" at `close` closes; q.size() if none does.
std::size_t opening(Tokens q, std::size_t close) {
    int depth = 0;
    for (std::size_t i = close + 1; i-- > 0;) {
        if (is_punct(q, i, ")")) ++depth;
        if (is_punct(q, i, "(") && --depth == 0) return i;
    }
    return q.size();
}

// Whether a name right after the ")" at `close` is a table alias with column
// names: "f(x) t(a, b)", "(select ...) t(a, b)". After OPERATOR(...) it is
// an operand.
bool alias_after(Tokens q, std::size_t close) {
    std::size_t open = opening(q, close);
    return open < q.size() && !(open > 0 && is_word(q, open - 1, "operator"));
}

// Whether the name at token `i`, followed by "(", calls a function there.
// Not: keywords that take parentheses; table aliases with column names
// ("AS t(a, b)", "f(x) t(a, b)", "WITH ORDINALITY t(a, b)"); a WITH query's
// name and column names; the parentheses of "AS NOT MATERIALIZED (";
// TABLESAMPLE methods, which only pick rows; "filter (", "over (" and
// "repeatable (" after a ")".
bool is_call(Tokens q, std::size_t i) {
    auto after = [q, i](std::string_view w) { return i > 0 && is_word(q, i - 1, w); };
    if (i >= 2 && is_punct(q, i - 1, ".")) return true;
    if (q[i].kind == TokenKind::Word && not_calls().contains(q[i].text)) return false;
    if (after("tablesample") || after("as") || after("ordinality")) return false;
    if (i > 0 && is_punct(q, i - 1, ")") && alias_after(q, i - 1)) return false;
    if (is_word(q, i, "materialized") && after("not") && i >= 2 && is_word(q, i - 2, "as")) return false;
    return !names_with_query(q, i + 1);
}

const char* call_reason(std::string_view name) {
    if (name.starts_with("pg_catalog.")) name.remove_prefix(std::string_view("pg_catalog.").size());
    for (const char* reason : kWritingBuiltins)
        if (std::string_view(reason).substr(kFunctionPrefix.size()) == name) return reason;
    if (name.starts_with("lo_")) return "large-object function";
    return "function not known to be read-only";
}

// Why a call at token `i`, if it is one, may write; nullptr if it is none
// or its function is read-only.
const char* call_write(Tokens q, std::size_t i, const FunctionCatalog& functions) {
    if (!is_name(q[i]) || !is_punct(q, i + 1, "(")) return nullptr;
    std::array<char, 160> buf;
    std::string_view name = call_name(q, i, buf);
    if (!name.empty() && functions.read_only(name)) return nullptr;
    return is_call(q, i) ? call_reason(name) : nullptr;
}

// FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE after the FOR at `i - 1`.
const char* locking_clause(Tokens q, std::size_t i) {
    if (is_word(q, i, "update")) return "SELECT ... FOR UPDATE";
    if (is_word(q, i, "share")) return "SELECT ... FOR SHARE";
    if (is_word(q, i, "no") && is_word(q, i + 1, "key") && is_word(q, i + 2, "update"))
        return "SELECT ... FOR NO KEY UPDATE";
    if (is_word(q, i, "key") && is_word(q, i + 1, "share")) return "SELECT ... FOR KEY SHARE";
    return nullptr;
}

// Why the keyword at token `i` of a query makes it write. INSERT, UPDATE,
// DELETE and MERGE can start a statement inside a query only as a WITH
// query ("AS (DELETE ...") or as the statement after the WITH list.
const char* keyword_write(Tokens q, std::size_t i, int depth) {
    const std::string& w = q[i].text;
    if (w == "for") return locking_clause(q, i + 1);
    if (w == "into") return "SELECT ... INTO";
    const bool starts_statement = i > 0 && (is_punct(q, i - 1, "(") || is_punct(q, i - 1, ")"));
    if (!starts_statement || (w != "insert" && w != "update" && w != "delete" && w != "merge")) return nullptr;
    return depth > 0 ? "writable CTE" : statement_write(w);
}

// Why a query (SELECT, VALUES, TABLE, WITH) writes; nullptr if it does not.
// Every check is local to a few tokens, so subqueries at any depth are seen.
const char* query_write(Tokens q, const FunctionCatalog& functions) {
    int depth = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
        if (is_punct(q, i, "(")) ++depth;
        if (is_punct(q, i, ")")) --depth;
        const char* why = q[i].kind == TokenKind::Word ? keyword_write(q, i, depth) : nullptr;
        if (!why) why = call_write(q, i, functions);
        if (why) return why;
    }
    return nullptr;
}

Classification classify_statement(Tokens st, const FunctionCatalog& functions);

// A statement inside another (EXPLAIN ANALYZE, COPY (...), DECLARE) is
// classified as itself, but only a query or a write makes sense there.
Classification nested(Tokens st, const FunctionCatalog& functions, const char* unexpected) {
    Classification c = classify_statement(st, functions);
    const bool expected =
        c.kind == StatementKind::Read || c.kind == StatementKind::Write || c.kind == StatementKind::Unknown;
    return expected ? c : unknown(unexpected);
}

// Whether an EXPLAIN option list turns ANALYZE on: "analyze", "analyze
// true/on/1". A value that is no boolean counts as on.
bool analyze_option(Tokens options) {
    bool analyze = false;
    for (std::size_t i = 0; i < options.size(); ++i) {
        const bool starts_option = i == 0 || is_punct(options, i - 1, ",");
        if (!starts_option || !(is_word(options, i, "analyze") || is_word(options, i, "analyse"))) continue;
        const bool has_value = i + 1 < options.size() && !is_punct(options, i + 1, ",");
        analyze = !has_value || bool_token(options[i + 1]).value_or(true);
    }
    return analyze;
}

// Whether a statement can be planned without being run.
bool plannable(Tokens st) {
    std::size_t i = 0;
    while (is_punct(st, i, "(")) ++i;
    for (std::string_view w : {"select", "values", "table", "with", "insert", "update", "delete", "merge"})
        if (is_word(st, i, w)) return true;
    return false;
}

// EXPLAIN runs the statement it explains only with ANALYZE; without, a
// plannable statement is only planned, which a replica can do.
Classification explain_statement(Tokens st, const FunctionCatalog& functions) {
    bool analyze = false;
    std::size_t i = 1;
    if (is_punct(st, 1, "(")) {
        std::size_t close = matching(st, 1);
        analyze = analyze_option(st.subspan(2, close - 2));
        i = close + 1;
    } else {
        for (; is_word(st, i, "analyze") || is_word(st, i, "analyse") || is_word(st, i, "verbose"); ++i)
            analyze = analyze || !is_word(st, i, "verbose");
    }
    if (i >= st.size()) return unknown("EXPLAIN without a statement");
    Tokens inner = st.subspan(i);
    if (!analyze && plannable(inner)) return read();
    return nested(inner, functions, "EXPLAIN of a statement that cannot be explained");
}

// COPY ... FROM writes. COPY ... TO STDOUT reads. COPY ... TO a file or
// PROGRAM acts on the host of the server that runs it, which the client
// takes to be the primary.
Classification copy_statement(Tokens st, const FunctionCatalog& functions) {
    std::size_t i = 1;
    if (is_punct(st, 1, "(")) {
        std::size_t close = matching(st, 1);
        Classification query = nested(st.subspan(2, close - 2), functions, "COPY of a statement that is no query");
        if (query.kind != StatementKind::Read) return query;
        i = close + 1;
    } else {
        if (is_word(st, i, "binary")) ++i;
        i = after_name(st, i);
        if (is_punct(st, i, "(")) i = matching(st, i) + 1;
    }
    if (is_word(st, i, "from")) return write("COPY ... FROM");
    if (!is_word(st, i, "to")) return unknown("unrecognised COPY");
    return is_word(st, i + 1, "stdout") ? read() : write("COPY ... TO a server file or program");
}

// A cursor is bound to its transaction, which keeps one backend, so its
// FETCH, MOVE and CLOSE follow the transaction wherever DECLARE ran. WITH
// HOLD keeps the cursor past the transaction on that backend: the primary,
// where the session can still write.
Classification declare_statement(Tokens st, const FunctionCatalog& functions) {
    std::size_t i = 2;
    while (i < st.size() && !is_word(st, i, "cursor")) ++i;
    ++i;
    if (is_word(st, i, "with") && is_word(st, i + 1, "hold")) return write("cursor WITH HOLD");
    if (is_word(st, i, "without") && is_word(st, i + 1, "hold")) i += 2;
    if (!is_word(st, i, "for") || i + 1 >= st.size()) return unknown("unrecognised DECLARE");
    return nested(st.subspan(i + 1), functions, "DECLARE of a statement that is no query");
}

// `kind`, with the access mode that transaction modes ("ISOLATION LEVEL
// REPEATABLE READ, READ ONLY") state; as in PostgreSQL, the last one wins.
Classification with_access_mode(StatementKind kind, Tokens modes) {
    Classification c = of_kind(kind);
    for (std::size_t i = 0; i + 1 < modes.size(); ++i) {
        if (!is_word(modes, i, "read")) continue;
        if (is_word(modes, i + 1, "only")) set_access_mode(c, true);
        if (is_word(modes, i + 1, "write")) set_access_mode(c, false);
    }
    return c;
}

Classification begin_statement(Tokens modes) {
    Classification c = with_access_mode(StatementKind::Begin, modes);
    if (c.read_only_setting) c.kind = StatementKind::BeginReadOnly;
    return c;
}

// COMMIT / END / ROLLBACK / ABORT. AND CHAIN starts the next transaction at
// once, with the same modes, on the same backend: to the caller, the
// transaction goes on.
Classification transaction_end(Tokens st) {
    if (is_word(st, 1, "prepared")) return write(st[0].text == "commit" ? "COMMIT PREPARED" : "ROLLBACK PREPARED");
    std::size_t i = 1;
    if (is_word(st, i, "work") || is_word(st, i, "transaction")) ++i;
    if (is_word(st, i, "to")) return of_kind(StatementKind::TransactionControl);
    if (is_word(st, i, "and") && is_word(st, i + 1, "chain")) return of_kind(StatementKind::TransactionControl);
    return of_kind(StatementKind::TransactionEnd);
}

// `kind`, with the access mode of a boolean parameter's value: "name = on",
// "name TO 'off'" from token `name` on.
Classification with_bool_value(StatementKind kind, Tokens st, std::size_t name) {
    Classification c = of_kind(kind);
    const bool assigns = is_word(st, name + 1, "to") || (name + 1 < st.size() && st[name + 1].text == "=");
    if (!assigns || name + 3 != st.size()) return c;
    if (std::optional<bool> on = bool_token(st[name + 2])) set_access_mode(c, *on);
    return c;
}

// SET. What lasts only as long as the transaction (SET TRANSACTION, SET
// LOCAL, SET CONSTRAINTS, the transaction_* parameters) is
// TransactionControl; the rest is session state.
Classification set_statement(Tokens st) {
    std::size_t i = 1;
    const bool local = is_word(st, i, "local");
    if (local || is_word(st, i, "session")) ++i;
    if (is_word(st, i, "characteristics")) return with_access_mode(StatementKind::Session, st.subspan(i));
    if (is_word(st, i, "transaction")) return with_access_mode(StatementKind::TransactionControl, st.subspan(i));
    if (is_name(st, i, "transaction_read_only")) return with_bool_value(StatementKind::TransactionControl, st, i);
    const bool transaction_parameter = i < st.size() && is_name(st[i]) && st[i].text.starts_with("transaction_");
    if (local || transaction_parameter || is_word(st, i, "constraints"))
        return of_kind(StatementKind::TransactionControl);
    if (is_name(st, i, "default_transaction_read_only")) return with_bool_value(StatementKind::Session, st, i);
    return of_kind(StatementKind::Session);
}

Classification transaction_statement(Tokens st) {
    const std::string& first = st[0].text;
    if (first == "begin") return begin_statement(st.subspan(1));
    if (first == "start")
        return is_word(st, 1, "transaction") ? begin_statement(st.subspan(2)) : unknown("unrecognised START");
    if (first == "savepoint" || first == "release") return of_kind(StatementKind::TransactionControl);
    return transaction_end(st);
}

bool is_transaction_word(std::string_view w) {
    return w == "begin" || w == "start" || w == "commit" || w == "end" || w == "rollback" || w == "abort" ||
           w == "savepoint" || w == "release";
}

Classification by_first_word(Tokens st, const FunctionCatalog& functions) {
    std::size_t open = 0;
    while (is_punct(st, open, "(")) ++open;
    if (open == st.size() || st[open].kind != TokenKind::Word) return unknown("unrecognised statement");
    const std::string& first = st[open].text;
    if (first == "select" || first == "values" || first == "table" || first == "with") {
        const char* why = query_write(st, functions);
        return why ? write(why) : read();
    }
    if (open > 0) return unknown("unrecognised statement");
    if (first == "explain") return explain_statement(st, functions);
    if (first == "copy") return copy_statement(st, functions);
    if (first == "declare") return declare_statement(st, functions);
    if (first == "show" || first == "fetch" || first == "move" || first == "close") return read();
    if (is_transaction_word(first)) return transaction_statement(st);
    if (first == "set") return set_statement(st);
    if (first == "prepare" && is_word(st, 1, "transaction")) return write("PREPARE TRANSACTION");
    if (first == "prepare" || first == "reset" || first == "discard" || first == "deallocate" || first == "load")
        return of_kind(StatementKind::Session);
    if (const char* why = statement_write(first)) return write(why);
    return unknown("unrecognised statement");
}

Classification classify_statement(Tokens st, const FunctionCatalog& functions) {
    Classification c = by_first_word(st, functions);
    if (c.kind == StatementKind::Read && names_temp_object(st)) return write("temporary object (pg_temp)");
    return c;
}

// Statements of these kinds may be sent together as that kind.
bool combines(StatementKind kind) {
    return kind == StatementKind::Read || kind == StatementKind::Session || kind == StatementKind::TransactionControl;
}

// The lexer keeps at most this many tokens of a statement, so that a huge
// INSERT ... VALUES costs a scan but not a token per value. What the kept
// part shows to write does; anything else about a cut statement is unknown.
constexpr std::size_t kMaxTokens = std::size_t{1} << 16;

Classification top_level(const Statement& st, const FunctionCatalog& functions) {
    Classification c = classify_statement(st, functions);
    if (st.size() < kMaxTokens || c.kind == StatementKind::Write) return c;
    return unknown("statement too long to classify");
}

Classification combine(const std::vector<Statement>& statements, const FunctionCatalog& functions) {
    Classification all = read();  // no statement at all: an empty query, any node answers it
    for (std::size_t k = 0; k < statements.size(); ++k) {
        Classification c = top_level(statements[k], functions);
        if (c.kind == StatementKind::Unknown) return c;
        if (c.read_only_setting || c.read_write_setting) {
            all.read_only_setting = c.read_only_setting;
            all.read_write_setting = c.read_write_setting;
        }
        if (k == 0) {
            all.kind = c.kind;
        } else if (c.kind != all.kind || !combines(c.kind)) {
            all.kind = StatementKind::Write;
        }
        if (!all.reason && c.kind == StatementKind::Write) all.reason = c.reason;
    }
    if (all.kind == StatementKind::Write && !all.reason)
        all.reason = "several statements with transaction or session control";
    return all;
}

// The length of the (nested) block comment that `s` starts with; all of `s`
// if it does not end.
std::size_t comment_length(std::string_view s) {
    int depth = 0;
    for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        if (s[i] == '/' && s[i + 1] == '*') {
            ++depth;
            ++i;
        } else if (s[i] == '*' && s[i + 1] == '/') {
            ++i;
            if (--depth == 0) return i + 1;
        }
    }
    return s.size();
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Whether `text` holds `word` (any case) with no letter, digit or _ glued to it.
bool holds_word(std::string_view text, std::string_view word) {
    for (std::size_t at = 0; at + word.size() <= text.size(); ++at) {
        if (!iequals(text.substr(at, word.size()), word)) continue;
        const bool starts = at == 0 || !word_char(text[at - 1]);
        const bool ends = at + word.size() == text.size() || !word_char(text[at + word.size()]);
        if (starts && ends) return true;
    }
    return false;
}

// The hint of the block comment that opens `prefix` (the text before the
// first token), if one does. Given both, primary wins: it is always safe.
RouteHint leading_hint(std::string_view prefix) {
    std::size_t start = prefix.find_first_not_of(" \t\r\n\f\v");
    if (start == std::string_view::npos || prefix.substr(start, 2) != "/*") return RouteHint::None;
    std::string_view comment = prefix.substr(start, comment_length(prefix.substr(start)));
    if (holds_word(comment, "pggate:primary")) return RouteHint::Primary;
    return holds_word(comment, "pggate:replica") ? RouteHint::Replica : RouteHint::None;
}

}  // namespace

FunctionCatalog::FunctionCatalog() : stamp_(next_stamp()) {}

void FunctionCatalog::add(std::string name) {
    added_.insert(std::move(name));
    stamp_ = next_stamp();
}

bool FunctionCatalog::read_only(std::string_view name) const {
    if (added_.contains(name)) return true;
    if (name.starts_with("pg_catalog.")) name.remove_prefix(std::string_view("pg_catalog.").size());
    return name.find('.') == std::string_view::npos && builtins().contains(name);
}

Classification classify(std::string_view sql, const FunctionCatalog& functions) {
    LexResult lexed = lex_sql(sql, kMaxTokens);
    Classification c = lexed.complete ? combine(lexed.statements, functions)
                                      : unknown("unterminated string, quoted identifier or comment");
    std::size_t first_token = lexed.statements.empty() ? sql.size() : lexed.statements.front().front().begin;
    c.hint = leading_hint(sql.substr(0, first_token));
    c.statements = static_cast<std::uint32_t>(lexed.statements.size());
    return c;
}

const Classification& ClassificationCache::classify(std::string_view sql, const FunctionCatalog& functions) {
    if (functions.stamp() != stamp_) {
        entries_.clear();
        stamp_ = functions.stamp();
    }
    if (auto it = entries_.find(sql); it != entries_.end()) return it->second;
    Classification c = route::classify(sql, functions);
    if (sql.size() > kMaxTextBytes || capacity_ == 0) {
        uncached_ = c;
        return uncached_;
    }
    if (entries_.size() >= capacity_) entries_.clear();
    return entries_.emplace(std::string(sql), c).first->second;
}

}  // namespace pggate::route
