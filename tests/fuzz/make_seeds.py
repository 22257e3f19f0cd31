#!/usr/bin/env python3
"""Writes the seed corpora (tests/fuzz/corpus/<target>/) and dictionaries
(tests/fuzz/<target>.dict) of the fuzz targets: real protocol traffic, SCRAM
exchanges computed here as PostgreSQL does them, pgbench's SQL, the sample
configuration. Deterministic; rerun after changing it and commit the result:
    python3 tests/fuzz/make_seeds.py
"""

import base64
import hashlib
import hmac
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEP = b"\n~~\n"  # fuzz::kSeparator


def write_corpus(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in seeds:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def write_dict(target, tokens):
    with open(os.path.join(HERE, target + ".dict"), "w") as f:
        f.write("# libFuzzer dictionary of the %s target; written by make_seeds.py\n" % target)
        for t in tokens:
            esc = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "\\x%02x" % ord(c) for c in t)
            f.write('"%s"\n' % esc)


# ---- protocol ---------------------------------------------------------------

def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def startup(params, version=0x00030000):
    body = struct.pack("!I", version) + b"".join(cstr(k) + cstr(v) for k, v in params) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


SSL_REQUEST = struct.pack("!II", 8, 80877103)
GSS_REQUEST = struct.pack("!II", 8, 80877104)


def cancel(pid, secret):
    return struct.pack("!IIII", 16, 80877102, pid, secret)


def parse(name, sql, oids=()):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!H", len(oids)) + b"".join(struct.pack("!I", o) for o in oids))


def bind(portal, stmt, values):
    body = cstr(portal) + cstr(stmt) + struct.pack("!H", 0) + struct.pack("!H", len(values))
    for v in values:
        body += struct.pack("!i", len(v)) + v
    return msg(b"B", body + struct.pack("!H", 0))


def describe(kind, name):
    return msg(b"D", kind + cstr(name))


def execute(portal, rows=0):
    return msg(b"E", cstr(portal) + struct.pack("!I", rows))


SYNC = msg(b"S")
FLUSH = msg(b"H")
TERMINATE = msg(b"X")


def query(sql):
    return msg(b"Q", cstr(sql))


def auth(code, payload=b""):
    return msg(b"R", struct.pack("!I", code) + payload)


def param_status(k, v):
    return msg(b"S", cstr(k) + cstr(v))


def error(fields, t=b"E"):
    return msg(t, b"".join(k + cstr(v) for k, v in fields) + b"\0")


def rfq(status):
    return msg(b"Z", status)


def row_description(cols):
    body = struct.pack("!H", len(cols))
    for c in cols:
        body += cstr(c) + struct.pack("!IhIhih", 0, 0, 23, 4, -1, 0)
    return msg(b"T", body)


def data_row(values):
    return msg(b"D", struct.pack("!H", len(values)) + b"".join(struct.pack("!i", len(v)) + v for v in values))


def complete(tag):
    return msg(b"C", cstr(tag))


LOGIN = [("user", "alice"), ("database", "app"), ("application_name", "psql"), ("client_encoding", "UTF8")]
PGBENCH_SELECT = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"
PGBENCH_UPDATE = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;"


def codec_seeds():
    # 7-byte prefix: control (max_length, wanted types) and six chunk sizes.
    whole = b"\x00" + bytes(6)
    bytewise = b"\x04" + bytes([1] * 6)
    ragged = b"\x08" + bytes([3, 7, 1, 13, 2, 5])
    tiny = b"\x01" + bytes([4, 1, 5, 9, 2, 6])
    extended = (parse("", PGBENCH_SELECT, [23]) + bind("", "", [b"42"]) + describe(b"P", "") + execute("") + SYNC)
    pipeline = (parse("s1", PGBENCH_UPDATE) + bind("", "s1", [b"5", b"7"]) + execute("") +
                parse("", "BEGIN") + bind("", "", []) + execute("") + FLUSH +
                msg(b"C", b"S" + cstr("s1")) + SYNC + SYNC)
    copy_in = (query("COPY t FROM STDIN") + msg(b"d", b"1\tone\n") + msg(b"d", b"2\ttwo\n") + msg(b"c") + SYNC)
    copy_fail = query("COPY t FROM STDIN") + msg(b"d", b"x") + msg(b"f", cstr("client gave up"))
    func_call = msg(b"F", struct.pack("!I", 1598) + struct.pack("!H", 0) + struct.pack("!H", 0) + struct.pack("!H", 0))
    server_hello = (auth(0) + param_status("server_version", "15.5") + param_status("client_encoding", "UTF8") +
                    param_status("TimeZone", "UTC") + msg(b"K", struct.pack("!II", 4242, 0xDEADBEEF)) + rfq(b"I"))
    result = (row_description(["abalance"]) + data_row([b"-1234"]) + complete("SELECT 1") + rfq(b"T"))
    failure = (error([(b"S", "ERROR"), (b"V", "ERROR"), (b"C", "42P01"),
                      (b"M", 'relation "nope" does not exist'), (b"P", "15"), (b"F", "parse_relation.c"),
                      (b"L", "1392"), (b"R", "parserOpenTable")]) +
               error([(b"S", "NOTICE"), (b"V", "NOTICE"), (b"C", "00000"), (b"M", "hello")], b"N") + rfq(b"E"))
    sasl = (auth(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0") +
            auth(11, b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") +
            auth(12, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") + auth(0))
    md5 = auth(5, b"\x01\x02\x03\x04") + auth(3)
    extended_answers = (msg(b"1") + msg(b"2") + msg(b"t", struct.pack("!HI", 1, 23)) + msg(b"n") +
                        msg(b"s") + msg(b"3") + msg(b"I") + msg(b"G", b"\0" + struct.pack("!HH", 1, 0)) +
                        msg(b"A", struct.pack("!I", 7) + cstr("chan") + cstr("payload")) + msg(b"v", struct.pack("!II", 0, 0)))
    return [
        ("startup-query", whole + startup(LOGIN) + query("SELECT 1") + TERMINATE),
        ("ssl-startup-extended", ragged + SSL_REQUEST + startup(LOGIN) + extended),
        ("gss-startup-pipeline", bytewise + GSS_REQUEST + startup([("user", "bob")], 0x00030002) + pipeline),
        ("cancel", whole + cancel(4242, 0xDEADBEEF)),
        ("cancel-split", tiny + cancel(1, 2) + query("SELECT 1")),
        ("startup-v2", whole + startup([("user", "old")], 0x00020000)),
        ("startup-no-user", ragged + startup([("database", "app")])),
        ("startup-repeated-user", whole + startup([("user", "a"), ("user", "b"), ("options", "-c x=y")])),
        ("startup-replication", whole + startup(LOGIN + [("replication", "database")]) + copy_in + copy_fail),
        ("function-call", ragged + startup(LOGIN) + func_call + SYNC),
        ("server-hello", b"\x0c" + bytes([5, 5, 5, 5, 5, 5]) + server_hello + result + failure),
        ("server-sasl", b"\x10" + bytes([2, 9, 0, 0, 0, 0]) + sasl + md5),
        ("server-extended", b"\x14" + bytes([6, 1, 1, 6, 0, 0]) + extended_answers + rfq(b"I")),
        ("bad-length", whole + startup(LOGIN) + b"Q\x00\x00\x00\x03"),
        ("huge-length", b"\x02" + bytes(6) + startup(LOGIN) + b"Q\x7f\xff\xff\xff" + b"x" * 60),
        ("bad-type", whole + startup(LOGIN) + msg(b"?", b"")),
        ("startup-huge", whole + struct.pack("!II", 20000, 0x00030000)),
    ]


# ---- SCRAM (RFC 7677's example, and PostgreSQL's secrets) -------------------

PASSWORD = b"pencil"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
CNONCE = "rOprNGfwEbeRWgbNEkqO"
SNONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"


def scram_keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return client_key, hashlib.sha256(client_key).digest(), server_key


def b64(b):
    return base64.b64encode(b).decode()


def scram_exchange(cnonce, snonce, password=PASSWORD, salt=SALT, iterations=4096, user="user"):
    """The four messages of a SCRAM-SHA-256 login as libpq and PostgreSQL send them."""
    client_key, stored_key, server_key = scram_keys(password, salt, iterations)
    first_bare = "n=%s,r=%s" % (user, cnonce)
    server_first = "r=%s%s,s=%s,i=%d" % (cnonce, snonce, b64(salt), iterations)
    without_proof = "c=biws,r=%s%s" % (cnonce, snonce)
    auth_message = ",".join([first_bare, server_first, without_proof]).encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_sig = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    return ("n,," + first_bare, server_first, without_proof + ",p=" + b64(proof), "v=" + b64(server_sig))


def scram_secret(password=PASSWORD, salt=SALT, iterations=4096):
    _, stored, server = scram_keys(password, salt, iterations)
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored), b64(server))


def md5_secret(password, user):
    return "md5" + hashlib.md5(password + user).hexdigest()


def joined(*parts):
    return SEP.join(p.encode() if isinstance(p, str) else p for p in parts)


def sasl_initial(first):
    first = first.encode()
    return b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first


def auth_seeds():
    c1, s1, c2, s2 = scram_exchange(CNONCE, SNONCE)
    assert s2 == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="  # RFC 7677
    long_c = "L" * 1000
    long_s = "x" * 12000
    lc1, ls1, lc2, ls2 = scram_exchange(CNONCE, long_s)
    scenario = lambda n, opt=0: bytes([n, opt])
    # ClientAuth options: auth type index (passthrough trust plain md5 scram hba) + 6 * credentials
    # index (none plain md5 scram empty). ServerLogin: credentials + 8 with ClientKey (+ 16 * method).
    seeds = [
        ("server-rfc", scenario(0) + joined(c1, c2)),
        ("server-rfc-twice", scenario(0) + joined(c1, c2, c1, c2)),
        ("server-y-flag", scenario(0) + joined("y,,n=,r=abc", "c=eSws,r=abc" + SNONCE + ",x=ext,p=" + b64(bytes(32)))),
        ("server-channel-binding", scenario(0) + joined("p=tls-server-end-point,,n=,r=abc")),
        ("server-authzid", scenario(0) + joined("n,a=admin,n=,r=abc")),
        ("server-extension", scenario(0) + joined("n,,n=user,r=abc,x=1", "c=biws,r=abc" + SNONCE + ",p=AA==")),
        ("server-mandatory", scenario(0) + joined("n,,m=ext,n=user,r=abc")),
        ("server-long-nonce", scenario(0) + joined("n,,n=,r=" + long_c, "c=biws,r=" + long_c + SNONCE + ",p=" + b64(bytes(32)))),
        ("roundtrip", scenario(1, 3) + joined(CNONCE, SNONCE, "user", "pencil", "salt")),
        ("roundtrip-escaped-user", scenario(1, 0) + joined("", "", "a,b=c", "pa\"ss,w=rd", "")),
        ("roundtrip-long-nonces", scenario(1, 7) + joined("c" * 1024, "s" * 1024, "", "", "\x00\x01")),
        ("roundtrip-bad-nonce", scenario(1, 1) + joined("a,b", "\x7f", "u\x00", "p", "s")),
        ("client-key-rfc", scenario(2) + joined(s1, s2)),
        ("client-key-long", scenario(2) + joined(ls1, ls2)),
        ("client-key-error", scenario(2) + joined(s1, "e=invalid-proof")),
        ("client-key-ext", scenario(2) + joined(s1 + ",x=y", s2 + ",z=1")),
        ("client-password-rfc", scenario(3) + joined(s1, s2)),
        ("client-password-costly", scenario(3) + joined("r=" + CNONCE + "x,s=" + b64(SALT) + ",i=9999999", s2)),
        ("client-mandatory", scenario(3) + joined("m=x,r=" + CNONCE + "x,s=QQ==,i=1")),
        ("clientauth-plain", scenario(4, 2 + 6 * 1) + joined(b"pencil\0")),
        ("clientauth-plain-scram-secret", scenario(4, 2 + 6 * 3) + joined(b"pencil\0")),
        ("clientauth-md5", scenario(4, 3 + 6 * 2) + joined(b"md5" + b"0" * 32 + b"\0")),
        ("clientauth-scram", scenario(4, 4 + 6 * 3) + joined(sasl_initial(c1), c2.encode())),
        ("clientauth-scram-unknown", scenario(4, 4) + joined(sasl_initial(c1), c2.encode(), b"extra")),
        ("clientauth-scram-bad-len", scenario(4, 4 + 6 * 1) + joined(b"SCRAM-SHA-256\0\0\0\0\x05n,,n=")),
        ("clientauth-trust", scenario(4, 1)),
        ("honest-scram", scenario(5, 4 + 6 * 3) + joined("pencil")),
        ("honest-md5", scenario(5, 3 + 6 * 1) + joined("pencil")),
        ("honest-wrong", scenario(5, 2 + 6 * 2) + joined("pencils")),
        ("login-md5", scenario(6, 2) + joined(struct.pack("!I", 5) + b"\x01\x02\x03\x04", struct.pack("!I", 0))),
        ("login-cleartext", scenario(6, 1) + joined(struct.pack("!I", 3), struct.pack("!I", 0))),
        ("login-sasl", scenario(6, 3 + 8) + joined(struct.pack("!I", 10) + b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0",
                                               struct.pack("!I", 11) + s1.encode(), struct.pack("!I", 12) + s2.encode())),
        ("login-sasl-plain", scenario(6, 1) + joined(struct.pack("!I", 10) + b"SCRAM-SHA-256\0\0",
                                                struct.pack("!I", 11) + s1.encode())),
        ("login-gss", scenario(6, 1) + joined(struct.pack("!I", 7))),
        ("login-honest-sasl-key", scenario(7, 3 + 8 + 16 * 2) + joined("salt")),
        ("login-honest-md5", scenario(7, 2 + 16 * 1) + joined("\x00\xff\x10\x20")),
        ("login-honest-cleartext", scenario(7, 1)),
        ("helpers-md5", scenario(8) + joined("pencil", "alice")),
        ("helpers-md5-secret", scenario(8) + joined(md5_secret(b"pencil", b"alice"), "alice")),
        ("helpers-scram-secret", scenario(8) + joined(scram_secret(), "")),
        ("helpers-base64", scenario(8) + joined(b64(SALT), "x")),
    ]
    tokens = ["n,,", "y,,", "p=", "n=", "r=", ",r=", ",s=", ",i=", ",p=", "c=biws", "v=", "e=", "m=", "a=",
              "=2C", "=3D", "SCRAM-SHA-256", "SCRAM-SHA-256$", "md5", "pencil", CNONCE, SNONCE, "4096", "==",
              SEP.decode()]
    return seeds, tokens


# ---- SQL --------------------------------------------------------------------

SQL = [
    "BEGIN;",
    PGBENCH_UPDATE,
    PGBENCH_SELECT,
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
    "END;",
    "BEGIN; SELECT abalance FROM pgbench_accounts WHERE aid = 7; COMMIT;",
    "/* pggate:replica */ SELECT count(*) FROM pgbench_branches",
    "/* app /* nested */ pggate:primary */ SELECT now()",
    "WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved",
    "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT sum(n) FROM t",
    "SELECT nextval('s'), random(), app.lookup(1), my_read_func(), pg_catalog.upper('x')",
    "SELECT $$a;b$$, $tag$ ; $x$ $tag$, E'it\\'s;', U&\"d\\0061t\\+000061\", B'1010', X'1F', N'n'",
    'SELECT "quoted "" ident", "Foo".bar FROM "My Table"',
    "EXPLAIN ANALYZE SELECT 1",
    "EXPLAIN (ANALYZE false, VERBOSE) DELETE FROM t",
    "EXPLAIN (FORMAT JSON) SELECT * FROM t",
    "COPY (SELECT * FROM t) TO STDOUT WITH (FORMAT csv)",
    "COPY t (a, b) FROM STDIN",
    "COPY BINARY t TO '/tmp/x'",
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1; FETCH 10 FROM c; CLOSE c",
    "DECLARE c NO SCROLL CURSOR WITHOUT HOLD FOR SELECT * FROM t",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "SET transaction_read_only = on",
    "SET default_transaction_read_only TO 'off'",
    "SET LOCAL statement_timeout = 0; SET search_path TO app, public",
    "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    "COMMIT AND CHAIN",
    "ROLLBACK TO SAVEPOINT s1; RELEASE s1",
    "COMMIT PREPARED 'gid'",
    "PREPARE TRANSACTION 'gid'",
    "SELECT * FROM pg_temp.t",
    "CREATE TEMP TABLE t (a int)",
    "LISTEN chan; NOTIFY chan, 'x'",
    "SELECT set_config('a.b', 'c', false)",
    "SELECT 1 -- comment ; not a statement end\n; /* block ; */ SELECT 2;;",
    "PREPARE p (int) AS SELECT $1; EXECUTE p(1); DEALLOCATE p",
    "SELECT 1e+5, .5, 0x1F, 1_000, 3.14e-2, a*-2, b<>c, d||e, f::text",
    "SELECT * FROM t FOR UPDATE SKIP LOCKED",
    "VALUES (1), (2); TABLE t",
    "SELECT 'unterminated",
    "SELECT /* unterminated",
    "SHOW search_path; RESET ALL; DISCARD ALL; LOAD 'x'",
    "((SELECT 1))",
    "select pg_advisory_lock(1)",
    "SELECT lo_import('/etc/passwd')",
    "VACUUM ANALYZE t; REFRESH MATERIALIZED VIEW m",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
]

SQL_WORDS = ["select", "insert", "update", "delete", "merge", "with", "values", "table", "explain", "analyze",
             "copy", "from", "to", "stdout", "stdin", "declare", "cursor", "hold", "for", "set", "session",
             "local", "transaction", "characteristics", "read", "only", "write", "begin", "start", "commit",
             "rollback", "abort", "end", "savepoint", "release", "chain", "prepared", "prepare", "reset",
             "discard", "deallocate", "load", "show", "fetch", "move", "close", "pg_temp", "into", "returning",
             "nextval", "set_config", "transaction_read_only", "default_transaction_read_only", "pggate:primary",
             "pggate:replica", "/*", "*/", "--", "$$", "E'", "U&'", "U&\"", "'", '"', ";", "(", ")", "$1", "::"]


# ---- configuration ------------------------------------------------------------

MIN_INI = """[pggate]
listen_addr = 127.0.0.1, ::1
listen_port = 6432
auth_type = scram-sha-256
auth_file = /etc/pggate/userlist.txt
pool_mode = transaction
read_only_functions = app.lookup, My_Func

[nodes]
primary = host=10.0.0.1 port=5432 role=primary
replica1 = host=replica1.example.com role=replica weight=2
replica2 = host=/var/run/postgresql port=5433 role=auto

[databases]
app = dbname=app_prod pool_size=10 min_pool_size=2 pool_mode=session
* = read_write_split=off

[users]
alice = pool_size=5 max_user_connections=7
"""

HBA = """# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             postgres                                peer_is_not_here_so_trust
local   all             all                                     trust
host    all             all             127.0.0.1/32            scram-sha-256
host    app,"all"       alice,bob       10.0.0.0/8              md5
hostssl sameuser        all             ::1/128                 cert clientcert=verify-full
hostnossl replication   all             0.0.0.0 0.0.0.0         reject
host    all             all             192.168.1.0 255.255.255.0 password
host    all             all             all                     reject  # the rest
"""

AUTH_FILE = '''; pggate auth_file
"alice" "pencil"
"bob" "%s"
"carol" "%s"
"quote""d" "pa""ss"   trailing words ignored
# comment
''' % (md5_secret(b"secret", b"bob"), scram_secret())


def config_seeds():
    with open(os.path.join(ROOT, "etc", "pggate.ini"), "rb") as f:
        sample = f.read()
    hba_ok = HBA.replace("peer_is_not_here_so_trust", "trust")
    return [
        ("sample-pggate.ini", sample),
        ("minimal.ini", b"[nodes]\nn1 = host=127.0.0.1\n"),
        ("full.ini", MIN_INI.encode()),
        ("passthrough-transaction.ini", b"[pggate]\npool_mode = transaction\n[nodes]\nn = host=h\n"),
        ("hba-auth.ini", b"\xef\xbb\xbf[pggate]\nauth_type = hba\nauth_hba_file = /etc/pggate/hba.conf ; rules\n"
                         b"listen_addr =\nunix_socket_dir = /run/pggate\n[nodes]\na = host=fe80::1%eth0\n"),
        ("errors.ini", b"[pggate]\nlisten_port = 99999\n[bogus]\nx = 1\n"),
        ("pg_hba.conf", hba_ok.encode()),
        ("pg_hba-unsupported.conf", HBA.encode()),
        ("pg_hba-v6.conf", b"host all all fe80::/10 md5\nhost \"all\" +admins ::ffff:10.0.0.0/104 trust\n"),
        ("userlist.txt", AUTH_FILE.encode()),
        ("userlist-crlf.txt", b'"a" "b"\r\n"c" ""\r\n'),
        # Found by the fuzzer: a runtime SET of a value starting with ';' read back empty.
        ("regress-set-semicolon.ini", b"[pggate]\nauth_file=;\n[nodes]\na=host=f"),
        # And: a [databases] or [users] line without a name was taken as the pool of "".
        ("regress-empty-name.ini", b"[nodes]\nr=host=r\n[databases]\n=\n\n[users]\n="),
    ]


def config_words():
    with open(os.path.join(ROOT, "src", "config", "config.cpp")) as f:
        keys = re.findall(r'\{"(\w+)\.(\w+)"', f.read())
    words = ["[pggate]", "[nodes]", "[databases]", "[users]", " = ", "=", "\n", " ;", "on", "off",
             "session", "transaction", "primary", "replica", "auto", "trust", "md5", "scram-sha-256", "hba",
             "local", "host", "hostssl", "hostnossl", "all", "sameuser", "replication", "reject", "password",
             "cert", "127.0.0.1/32", "::1/128", "255.255.255.0", '"', '""', "\r\n", "#"]
    return words + sorted({name for _, name in keys})


def main():
    write_corpus("codec", codec_seeds())
    seeds, tokens = auth_seeds()
    write_corpus("auth", seeds)
    write_dict("auth", tokens)
    write_corpus("sql", [("sql-%02d" % i, s.encode()) for i, s in enumerate(SQL)])
    write_dict("sql", SQL_WORDS)
    write_corpus("config", config_seeds())
    write_dict("config", config_words())


if __name__ == "__main__":
    main()
