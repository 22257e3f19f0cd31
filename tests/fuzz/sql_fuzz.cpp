// Fuzzes the SQL tokenizer and the statement classifier (primary or replica)
// on arbitrary text: token bounds, statement splitting independent of the
// token limit, hints that never change the decision, the per-worker cache.
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "route/classifier.hpp"
#include "route/sql_lexer.hpp"

using namespace pggate::route;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

void check_tokens(std::string_view sql, const LexResult& r, std::size_t max_tokens) {
    std::size_t prev_end = 0;
    for (const Statement& st : r.statements) {
        FUZZ_CHECK(!st.empty() && st.size() <= max_tokens);
        for (const Token& t : st) {
            FUZZ_CHECK(t.begin < t.end && t.end <= sql.size() && t.begin >= prev_end);
            prev_end = t.end;
            std::string_view raw = sql.substr(t.begin, t.end - t.begin);
            switch (t.kind) {
                case TokenKind::Word:
                    FUZZ_CHECK(t.text == lower(raw));
                    break;
                case TokenKind::String:
                case TokenKind::Number:
                case TokenKind::Param:
                case TokenKind::Operator:
                case TokenKind::Punct:
                    FUZZ_CHECK(t.text == raw);
                    break;
                case TokenKind::QuotedIdent:
                    // U&"..." keeps its spelling; "..." loses its quotes.
                    if (raw.starts_with("U&") || raw.starts_with("u&"))
                        FUZZ_CHECK(t.text == raw);
                    else
                        FUZZ_CHECK(raw.front() == '"' && raw.back() == '"' && t.text.size() <= raw.size() - 2);
                    break;
            }
            if (t.kind == TokenKind::Punct) FUZZ_CHECK(t.text.size() == 1 && t.text != ";");
        }
    }
}

bool same(const Classification& a, const Classification& b) {
    return a.kind == b.kind && a.hint == b.hint && a.read_only_setting == b.read_only_setting &&
           a.read_write_setting == b.read_write_setting && a.statements == b.statements &&
           (a.reason == b.reason || (a.reason && b.reason && std::strcmp(a.reason, b.reason) == 0));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view sql(reinterpret_cast<const char*>(data), size);

    // The token limit cuts statements short but never changes where they end.
    const LexResult full = lex_sql(sql);
    const LexResult one = lex_sql(sql, 1);
    check_tokens(sql, full, 64);
    check_tokens(sql, one, 1);
    FUZZ_CHECK(full.complete == one.complete);
    FUZZ_CHECK(full.statements.size() == one.statements.size());
    for (std::size_t i = 0; i < full.statements.size(); ++i) {
        const Token& a = full.statements[i].front();
        const Token& b = one.statements[i].front();
        FUZZ_CHECK(a.kind == b.kind && a.text == b.text && a.begin == b.begin && a.end == b.end);
    }
    FUZZ_CHECK(lex_sql(sql, 0).statements.empty());

    static const FunctionCatalog functions = [] {
        FunctionCatalog f;
        f.add("app.lookup");
        f.add("my_read_func");
        return f;
    }();
    const Classification c = classify(sql, functions);
    FUZZ_CHECK(c.statements == full.statements.size());
    if (c.kind == StatementKind::Write || c.kind == StatementKind::Unknown) FUZZ_CHECK(c.reason != nullptr);
    FUZZ_CHECK(!(c.read_only_setting && c.read_write_setting));
    if (c.kind == StatementKind::BeginReadOnly) FUZZ_CHECK(c.read_only_setting);
    if (!full.complete) FUZZ_CHECK(c.kind == StatementKind::Unknown);

    // A leading hint is reported, and the decision stays what the SQL says.
    std::string hinted = "/* pggate:replica */ ";
    hinted += sql;
    const Classification h = classify(hinted, functions);
    FUZZ_CHECK(h.hint == RouteHint::Replica);
    FUZZ_CHECK(h.kind == c.kind && h.statements == c.statements && h.read_only_setting == c.read_only_setting &&
               h.read_write_setting == c.read_write_setting);

    // The cache answers as classify() does, the first time and the next.
    static ClassificationCache cache(16);
    FUZZ_CHECK(same(cache.classify(sql, functions), c));
    FUZZ_CHECK(same(cache.classify(sql, functions), c));
    FUZZ_CHECK(cache.size() <= 16);

    (void)mentions(sql, "select");
    return 0;
}
