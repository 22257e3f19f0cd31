// Unit tests of the SQL tokenizer: words, quoted identifiers, every string
// form, dollar quotes, parameters, comments, statement splitting, truncation,
// unterminated input, and random bytes.
#include <doctest/doctest.h>

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "route/sql_lexer.hpp"

namespace {

using pggate::route::lex_sql;
using pggate::route::LexResult;
using pggate::route::mentions;
using pggate::route::Statement;
using pggate::route::TokenKind;

// The single statement `sql` lexes to; fails the test if there is not exactly one.
Statement one(std::string_view sql, std::size_t max_tokens = 64) {
    LexResult r = lex_sql(sql, max_tokens);
    CHECK(r.complete);
    REQUIRE(r.statements.size() == 1);
    return r.statements[0];
}

// The texts of a statement's tokens, for compact comparisons.
std::vector<std::string> texts(const Statement& st) {
    std::vector<std::string> out;
    for (const auto& t : st) out.push_back(t.text);
    return out;
}

std::vector<TokenKind> kinds(const Statement& st) {
    std::vector<TokenKind> out;
    for (const auto& t : st) out.push_back(t.kind);
    return out;
}

// The first word of every statement.
std::vector<std::string> first_words(const LexResult& r) {
    std::vector<std::string> out;
    for (const auto& st : r.statements) out.push_back(st.empty() ? "" : st[0].text);
    return out;
}

using Strings = std::vector<std::string>;
using Kinds = std::vector<TokenKind>;

}  // namespace

TEST_SUITE("route.sql_lexer") {

TEST_CASE("sql_lexer lower-cases keywords and identifiers") {
    Statement st = one("SeLeCt Foo_1, bar$x FROM \"Baz\"");
    CHECK(texts(st) == Strings{"select", "foo_1", ",", "bar$x", "from", "Baz"});
    CHECK(kinds(st) == Kinds{TokenKind::Word, TokenKind::Word, TokenKind::Punct, TokenKind::Word, TokenKind::Word,
                             TokenKind::QuotedIdent});
}

TEST_CASE("sql_lexer keeps non-ASCII identifier bytes") {
    Statement st = one("select \xc3\xa9t\xc3\xa9 from t");
    CHECK(texts(st) == Strings{"select", "\xc3\xa9t\xc3\xa9", "from", "t"});
}

TEST_CASE("sql_lexer quoted identifiers keep case and undouble quotes") {
    Statement st = one("select \"Foo\"\"bar\", \"a;b\", \"--x\", \"/*\" from \"T\"");
    REQUIRE(st.size() == 10);
    CHECK(st[1].kind == TokenKind::QuotedIdent);
    CHECK(st[1].text == "Foo\"bar");
    CHECK(st[3].text == "a;b");
    CHECK(st[5].text == "--x");
    CHECK(st[7].text == "/*");
    CHECK(st[9].text == "T");
}

TEST_CASE("sql_lexer standard strings with doubled quotes") {
    Statement st = one("select 'it''s; here', 'a\\'");
    REQUIRE(st.size() == 4);
    CHECK(st[1].kind == TokenKind::String);
    CHECK(st[1].text == "'it''s; here'");
    // In a standard string a backslash is an ordinary character.
    CHECK(st[3].kind == TokenKind::String);
    CHECK(st[3].text == "'a\\'");
}

TEST_CASE("sql_lexer E strings take backslash escapes") {
    LexResult r = lex_sql("select E'it\\'s; x'; select 2");
    CHECK(r.complete);
    REQUIRE(r.statements.size() == 2);
    REQUIRE(r.statements[0].size() == 2);
    CHECK(r.statements[0][1].kind == TokenKind::String);
    CHECK(r.statements[0][1].text == "E'it\\'s; x'");
    CHECK(texts(r.statements[1]) == Strings{"select", "2"});

    Statement st = one("select e'a\\\\', e'b''c', 'd'");
    CHECK(texts(st) == Strings{"select", "e'a\\\\'", ",", "e'b''c'", ",", "'d'"});
}

TEST_CASE("sql_lexer U&, B, X and N strings") {
    Statement st = one("select U&'d\\0061t;a', b'1010', X'1F', n'nat;ional', u&\"d;q\"");
    REQUIRE(st.size() == 10);
    CHECK(st[1].kind == TokenKind::String);
    CHECK(st[1].text == "U&'d\\0061t;a'");
    CHECK(st[3].kind == TokenKind::String);
    CHECK(st[3].text == "b'1010'");
    CHECK(st[5].kind == TokenKind::String);
    CHECK(st[5].text == "X'1F'");
    CHECK(st[7].kind == TokenKind::String);
    CHECK(st[7].text == "n'nat;ional'");
    CHECK(st[9].kind == TokenKind::QuotedIdent);
}

TEST_CASE("sql_lexer a word ending in e or x before a quote is still a word") {
    // Only a token that starts with the prefix letter is a prefixed string.
    Statement st = one("select some 'a', tex 'b'");
    CHECK(texts(st) == Strings{"select", "some", "'a'", ",", "tex", "'b'"});
}

TEST_CASE("sql_lexer dollar quotes are one string token") {
    Statement st = one("select $$a; 'b' \"c\" -- d\n/* e */$$");
    REQUIRE(st.size() == 2);
    CHECK(st[1].kind == TokenKind::String);
    CHECK(st[1].text == "$$a; 'b' \"c\" -- d\n/* e */$$");

    st = one("do $body$ begin perform 1; $x$ inner $x$; $$ also $$; end $body$ language plpgsql");
    REQUIRE(st.size() == 4);
    CHECK(st[1].kind == TokenKind::String);
    CHECK(st[1].text == "$body$ begin perform 1; $x$ inner $x$; $$ also $$; end $body$");
    CHECK(texts(st)[2] == "language");
    CHECK(texts(st)[3] == "plpgsql");

    // A tag that is a prefix of another tag does not end the quote.
    st = one("select $a$ $ab$ ; $a$");
    REQUIRE(st.size() == 2);
    CHECK(st[1].text == "$a$ $ab$ ; $a$");

    // Tags are case-sensitive.
    LexResult r = lex_sql("select $T$ x $t$ ;");
    CHECK_FALSE(r.complete);
}

TEST_CASE("sql_lexer parameters are not dollar quotes") {
    Statement st = one("select $1, $23 + $1 from t where a$1 = $2");
    CHECK(texts(st) == Strings{"select", "$1", ",", "$23", "+", "$1", "from", "t", "where", "a$1", "=", "$2"});
    CHECK(st[1].kind == TokenKind::Param);
    CHECK(st[3].kind == TokenKind::Param);
    CHECK(st[9].kind == TokenKind::Word);
    CHECK(st[11].kind == TokenKind::Param);

    // Two parameters do not open a dollar quote between them.
    LexResult r = lex_sql("select $1; select $2");
    CHECK(r.complete);
    CHECK(r.statements.size() == 2);
}

TEST_CASE("sql_lexer a lone dollar sign is punctuation") {
    LexResult r = lex_sql("select $ ; select $");
    CHECK(r.complete);
    REQUIRE(r.statements.size() == 2);
    CHECK(texts(r.statements[0]) == Strings{"select", "$"});
    CHECK(r.statements[0][1].kind == TokenKind::Punct);
}

TEST_CASE("sql_lexer line comments run to the end of the line") {
    LexResult r = lex_sql("select 1 -- a; b 'c\n, 2 --; tail");
    CHECK(r.complete);
    REQUIRE(r.statements.size() == 1);
    CHECK(texts(r.statements[0]) == Strings{"select", "1", ",", "2"});
}

TEST_CASE("sql_lexer block comments nest") {
    LexResult r = lex_sql("/* a /* b; */ c; ' */ select 1 /**/; /* x */ select /* ; */ 2");
    CHECK(r.complete);
    REQUIRE(r.statements.size() == 2);
    CHECK(texts(r.statements[0]) == Strings{"select", "1"});
    CHECK(texts(r.statements[1]) == Strings{"select", "2"});

    // An operator stops where a comment starts.
    Statement st = one("select 1+--c\n2, 3*/* c */4");
    CHECK(texts(st) == Strings{"select", "1", "+", "2", ",", "3", "*", "4"});
}

TEST_CASE("sql_lexer splits statements and drops empty ones") {
    LexResult r = lex_sql(";;select 1;;");
    CHECK(r.complete);
    REQUIRE(r.statements.size() == 1);
    CHECK(texts(r.statements[0]) == Strings{"select", "1"});

    r = lex_sql("BEGIN; update t set a = 1 ;  ; COMMIT");
    CHECK(first_words(r) == Strings{"begin", "update", "commit"});

    r = lex_sql("; ;\n; -- nothing\n /* x */ ;");
    CHECK(r.complete);
    CHECK(r.statements.empty());

    r = lex_sql("");
    CHECK(r.complete);
    CHECK(r.statements.empty());
}

TEST_CASE("sql_lexer unterminated input is incomplete") {
    const char* cases[] = {
        "select 'abc",     "select 'it''",    "select E'abc\\'",  "select E'abc\\",   "select \"abc",
        "select \"a\"\"",  "select /* a",     "select /* a /* b */", "select $$ a",   "select $t$ a $$",
        "select $t$ a $t", "select U&'x",     "select U&\"x",     "select b'01",      "select X'1",
        "select 1; select 'x;",
    };
    for (const char* sql : cases) {
        CAPTURE(sql);
        CHECK_FALSE(lex_sql(sql).complete);
    }
    // A line comment needs no end.
    CHECK(lex_sql("select 1 -- open").complete);
}

TEST_CASE("sql_lexer max_tokens truncates but keeps splitting") {
    LexResult r = lex_sql("select a, b, 'c;d', $$;$$, e; listen x; select 1, 2, 3", 3);
    CHECK(r.complete);
    REQUIRE(r.statements.size() == 3);
    CHECK(texts(r.statements[0]) == Strings{"select", "a", ","});
    CHECK(texts(r.statements[1]) == Strings{"listen", "x"});
    CHECK(texts(r.statements[2]) == Strings{"select", "1", ","});

    // Truncated text still has to be read to its end.
    r = lex_sql("select a, b, c, 'open", 2);
    CHECK_FALSE(r.complete);

    r = lex_sql("select 1; select 2", 0);
    CHECK(r.complete);
    CHECK(r.statements.empty());
}

TEST_CASE("sql_lexer numbers") {
    Statement st = one("select 1, 1.5, 1.5e10, .5, 42., 1e3");
    CHECK(texts(st) == Strings{"select", "1", ",", "1.5", ",", "1.5e10", ",", ".5", ",", "42.", ",", "1e3"});
    for (std::size_t i = 1; i < st.size(); i += 2) CHECK(st[i].kind == TokenKind::Number);
}

TEST_CASE("sql_lexer operators and punctuation") {
    Statement st = one("select a<>b, c>=d, e||f, g->>'k', h @> i, (j) from t.u where k != 1 and l[2] = m");
    CHECK(texts(st) == Strings{"select", "a",  "<>", "b", ",",     "c",   ">=",  "d", ",", "e", "||", "f", ",",
                               "g",      "->>", "'k'", ",", "h",   "@>",  "i",   ",", "(", "j", ")",  "from",
                               "t",      ".",  "u",  "where", "k", "!=", "1", "and", "l", "[", "2", "]", "=", "m"});
    for (const auto& t : st) {
        CAPTURE(t.text);
        if (t.text == "<>" || t.text == ">=" || t.text == "||" || t.text == "->>" || t.text == "@>" ||
            t.text == "!=" || t.text == "=")
            CHECK(t.kind == TokenKind::Operator);
        if (t.text == "," || t.text == "(" || t.text == ")" || t.text == "." || t.text == "[" || t.text == "]")
            CHECK(t.kind == TokenKind::Punct);
    }
}

// PostgreSQL reads a signed exponent as part of the number.
TEST_CASE("sql_lexer numbers with a signed exponent") {
    Statement st = one("select 1.5e-10, 1e+5, .5E+3, 2e-3-1, 1e-x");
    CHECK(texts(st) == Strings{"select", "1.5e-10", ",", "1e+5", ",", ".5E+3", ",", "2e-3", "-", "1", ",", "1e", "-",
                               "x"});
    for (std::size_t i : {1, 3, 5, 7}) CHECK(st[i].kind == TokenKind::Number);
    CHECK(st[8].kind == TokenKind::Operator);
    // A sign after anything but an exponent marker is an operator.
    st = one("select 1-1, 1+2");
    CHECK(texts(st) == Strings{"select", "1", "-", "1", ",", "1", "+", "2"});
}

// A multi-character operator ends in + or - only if it also holds one of
// ~ ! @ # % ^ & | ` ?, so "a=-1" is a, =, -, 1.
TEST_CASE("sql_lexer an operator does not swallow a trailing sign") {
    Statement st = one("select a=-1, b<-2, c@-3, 1+-2, x!=-1, d*+-4");
    CHECK(texts(st) == Strings{"select", "a", "=", "-",  "1", ",", "b", "<", "-", "2", ",", "c", "@-", "3", ",", "1",
                               "+",      "-", "2", ",", "x",  "!=-", "1", ",", "d", "*", "+", "-", "4"});
    for (const auto& t : st)
        if (t.text == "-" || t.text == "+" || t.text == "@-" || t.text == "!=-") CHECK(t.kind == TokenKind::Operator);
}

TEST_CASE("sql_lexer whitespace of every kind separates tokens") {
    Statement st = one("select\t1\r\n,\f2\v");
    CHECK(texts(st) == Strings{"select", "1", ",", "2"});
}

TEST_CASE("sql_lexer survives random bytes") {
    std::mt19937 rng(20240521);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> len(0, 200);
    std::uniform_int_distribution<std::size_t> max_tokens(0, 80);
    for (int iter = 0; iter < 20000; ++iter) {
        std::string s(len(rng), '\0');
        for (char& c : s) c = static_cast<char>(byte(rng));
        LexResult r = lex_sql(s, max_tokens(rng));
        for (const auto& st : r.statements) CHECK_FALSE(st.empty());
    }
}

TEST_CASE("sql_lexer survives random mixes of quote and comment characters") {
    // Pieces that open, close or escape every lexical state.
    const std::string_view pieces[] = {"'",  "\"", "$",  "$$", "$a$", "$1", "E'", "e'", "U&'", "u&\"", "b'",
                                       "X'", "\\", "--", "/*", "*/",  "/",  "*",  ";",  "\n",  " ",    "a",
                                       "1",  ".",  "-",  "''", "\"\"", "NUL", "\xc3\xa9", "$_$", "u&", "E"};
    constexpr std::size_t kPieces = sizeof pieces / sizeof pieces[0];
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::size_t> pick(0, kPieces - 1);
    std::uniform_int_distribution<std::size_t> len(0, 40);
    std::uniform_int_distribution<std::size_t> max_tokens(0, 10);
    for (int iter = 0; iter < 20000; ++iter) {
        std::string s;
        std::size_t n = len(rng);
        for (std::size_t k = 0; k < n; ++k) {
            std::string_view p = pieces[pick(rng)];
            if (p == "NUL") {
                s.push_back('\0');
            } else {
                s += p;
            }
        }
        LexResult r = lex_sql(s, max_tokens(rng) + (iter % 2 ? 1000 : 0));
        for (const auto& st : r.statements) {
            CHECK_FALSE(st.empty());
            for (const auto& t : st) CHECK(t.text.size() <= s.size());
        }
    }
}

TEST_CASE("mentions finds a lower-case word in any case, anywhere in the text") {
    CHECK(mentions("SELECT 1", "select"));
    CHECK(mentions("select 1", "select"));
    CHECK(mentions("x; DeAlLoCaTe foo", "deallocate"));
    CHECK(mentions("abc", "abc"));           // the whole text
    CHECK(mentions("xxabc", "abc"));         // at the last place a match can start
    CHECK(mentions("PpPpgg", "ppgg"));       // after candidates of both cases that fail
    CHECK(mentions("a_1", "_1"));            // a first byte that is no letter
    CHECK(mentions("anything", ""));
    CHECK_FALSE(mentions("ab", "abc"));      // shorter than the word
    CHECK_FALSE(mentions("xxab", "abc"));    // a prefix at the very end
    CHECK_FALSE(mentions("SELECT 1", "prepare"));
    CHECK_FALSE(mentions("p r e p a r e", "prepare"));
    CHECK_FALSE(mentions("A_1", "a-1"));
    // Every position and case mix of a word in random text, against a plain search.
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int iter = 0; iter < 2000; ++iter) {
        std::string text(static_cast<std::size_t>(iter % 40), 'x');
        for (char& c : text) c = static_cast<char>(byte(rng) % 4 == 0 ? "pPrR"[byte(rng) % 4] : byte(rng));
        std::string lowered;
        for (char c : text) lowered += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        for (std::string_view word : {"p", "pr", "prp", "rp"})
            CHECK(mentions(text, word) == (lowered.find(word) != std::string::npos));
    }
}

}  // TEST_SUITE
