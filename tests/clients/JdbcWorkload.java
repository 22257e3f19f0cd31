// A realistic workload of the PostgreSQL JDBC driver through pggate: several
// threads, each with its own connection, doing DDL, transactions that commit
// and roll back, savepoints, batches, typed parameters, server-side prepared
// statements (half the clients with the driver's default prepareThreshold,
// half with 1, the same statement texts everywhere), a cursor-based fetch
// (setFetchSize inside a transaction: a portal read in parts), COPY through
// CopyManager, and errors: a failing statement inside a transaction, the
// transaction refused until rollback, then the session goes on. With
// --split, reads outside a transaction and read-only transactions must run
// on replicas. Prints a line per failed check and the verdict
// "jdbc: all N checks passed" (exit 0) or "jdbc: N failed checks" (exit 1),
// for tests/clients/test_drivers.cpp to judge.
//
//   javac -d build/release/java -cp /usr/share/java/postgresql.jar tests/clients/JdbcWorkload.java
//   java -cp build/release/java:/usr/share/java/postgresql.jar JdbcWorkload \
//       jdbc:postgresql://127.0.0.1:6432/postgres?user=postgres --clients 8 --rounds 2 --split
import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;

import org.postgresql.PGConnection;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyManager;

public class JdbcWorkload {
    static final String DRIVER = "jdbc";
    static final String WHERE_QUERY = "select pg_is_in_recovery(), inet_server_port()";
    static final int ROWS_PER_ROUND = 60;  // rows each client round leaves in the main table
    static final int COPY_ROWS = 400;
    static final double REPLICA_WAIT_S = 15;

    static String url;
    static int clients = 8;
    static int rounds = 2;
    static boolean split = false;
    static double timeoutS = 240;
    static String table;

    // ---- checks, shared by all threads ----

    static final AtomicInteger passed = new AtomicInteger();
    static final Map<String, int[]> failures = new LinkedHashMap<>();
    static final TreeSet<Integer> replicaPorts = new TreeSet<>();

    static void fail(String who, String step, String message) {
        synchronized (failures) {
            String key = step + ": " + message;
            int[] count = failures.get(key);
            if (count == null) {
                failures.put(key, new int[] {1});
                System.err.println("FAIL " + DRIVER + " [" + who + "] " + key);
            } else {
                count[0]++;
            }
        }
    }

    static synchronized int report() {
        synchronized (failures) {
            if (failures.isEmpty()) {
                if (split) System.out.println("note: reads outside transactions ran on the replicas on ports " + replicaPorts);
                System.out.println(DRIVER + ": all " + passed.get() + " checks passed");
                return 0;
            }
            int total = 0;
            for (int[] c : failures.values()) total += c[0];
            System.out.println(DRIVER + ": " + total + " failed checks (" + failures.size() + " distinct), " + passed.get()
                               + " passed:");
            for (Map.Entry<String, int[]> e : failures.entrySet())
                System.out.println("  FAIL " + e.getKey() + (e.getValue()[0] > 1 ? "  (x" + e.getValue()[0] + ")" : ""));
            return 1;
        }
    }

    static Connection connect(int threshold, String app) throws SQLException {
        Properties p = new Properties();
        if (threshold >= 0) p.setProperty("prepareThreshold", Integer.toString(threshold));
        p.setProperty("ApplicationName", app);
        p.setProperty("connectTimeout", "20");
        p.setProperty("socketTimeout", "120");  // a query that never returns fails instead of hanging
        return DriverManager.getConnection(url, p);
    }

    // ---- one client ----

    static final class Client implements Runnable {
        final int w;
        final int threshold;  // -1: the driver's default (5)
        String who = "";
        String step = "";

        Client(int index) {
            w = index;
            threshold = index % 2 == 0 ? -1 : 1;
        }

        void eq(String what, Object actual, Object expected) {
            if (Objects.deepEquals(actual, expected)) passed.incrementAndGet();
            else fail(who, step, what + ": expected " + show(expected) + ", got " + show(actual));
        }

        void check(String what, boolean ok) {
            if (ok) passed.incrementAndGet();
            else fail(who, step, what);
        }

        // With splitting a read may run on a replica that has not replayed a
        // commit yet: asked again until it agrees, for a bounded time.
        <T> void eqRead(String what, SqlSupplier<T> read, T expected) throws SQLException {
            if (!split) {
                eq(what, read.get(), expected);
                return;
            }
            // An error (a table the replica does not have yet) counts as not yet.
            long deadline = System.nanoTime() + (long) (REPLICA_WAIT_S * 1e9);
            while (true) {
                T actual = null;
                try {
                    actual = read.get();
                } catch (SQLException e) {
                    if (System.nanoTime() >= deadline) throw e;
                }
                if (Objects.deepEquals(actual, expected) || System.nanoTime() >= deadline) {
                    eq(what, actual, expected);
                    return;
                }
                sleepMs(20);
            }
        }

        void expectError(String what, String sqlstate, SqlRunnable body) {
            try {
                body.run();
                fail(who, step, what + ": no error (expected SQLSTATE " + sqlstate + ")");
            } catch (SQLException e) {
                eq(what + " SQLSTATE", e.getSQLState(), sqlstate);
            }
        }

        int rid(int r, int k) {
            return w * 100000 + r * 10000 + k;
        }

        List<Object> count(Connection c, int r) throws SQLException {
            try (PreparedStatement ps = c.prepareStatement(
                    "select count(*), coalesce(sum(n), 0) from " + table + " where worker = ? and round = ?")) {
                ps.setInt(1, w);
                ps.setInt(2, r);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return Arrays.asList(rs.getLong(1), rs.getLong(2));
                }
            }
        }

        public void run() {
            for (int r = 0; r < rounds; r++) round(r);
        }

        void round(int r) {
            who = "client " + w + " round " + r + (threshold < 0 ? " (prepareThreshold default)" : " (prepareThreshold 1)");
            step = "connect";
            try (Connection c = connect(threshold, "jdbc-w" + w)) {
                String[] names = {"reads outside a transaction", "ddl", "commit", "batch", "rollback",
                                  "error inside a transaction", "savepoint", "errors outside a transaction",
                                  "parameters", "server-side prepared statements", "cursor-based fetch", "copy",
                                  "session goes on"};
                SqlRunnable[] steps = {() -> stepWhere(c), () -> stepDdl(c, r), () -> stepCommit(c, r),
                                       () -> stepBatch(c, r), () -> stepRollback(c, r), () -> stepTxError(c, r),
                                       () -> stepSavepoint(c, r), () -> stepErrors(c), () -> stepParameters(c),
                                       () -> stepPrepared(c, r), () -> stepCursor(c, r), () -> stepCopy(c, r),
                                       () -> stepAfter(c, r)};
                for (int i = 0; i < steps.length; i++) {
                    step = names[i];
                    try {
                        steps[i].run();
                    } catch (SQLException e) {
                        fail(who, step, "unexpected SQLException SQLSTATE " + e.getSQLState() + ": " + e.getMessage());
                        if (c.isClosed()) return;
                        try {
                            if (!c.getAutoCommit()) c.rollback();
                            c.setAutoCommit(true);
                            c.setReadOnly(false);
                        } catch (SQLException e2) {
                            fail(who, step + " (rollback after error)", e2.getMessage());
                            return;
                        }
                    }
                }
            } catch (SQLException e) {
                fail(who, step, "unexpected SQLException SQLSTATE " + e.getSQLState() + ": " + e.getMessage());
            } catch (RuntimeException e) {
                fail(who, step, "unexpected " + e);
            }
        }

        List<Object> where(Connection c, PreparedStatement ps) throws SQLException {
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return Arrays.asList(rs.getBoolean(1), rs.getInt(2));
            }
        }

        // Before this connection writes anything: with read/write splitting
        // its autocommit reads (named server-side statements once past the
        // threshold) and its read-only transactions run on replicas, and a
        // cursor-based fetch in a read-only transaction reads there in parts.
        void stepWhere(Connection c) throws SQLException {
            try (PreparedStatement ps = c.prepareStatement(WHERE_QUERY)) {
                for (int i = 0; i < 7; i++) {
                    List<Object> row = where(c, ps);
                    eq("autocommit read ran on a replica", row.get(0), split);
                    if (split) synchronized (replicaPorts) { replicaPorts.add((Integer) row.get(1)); }
                }
                check("the driver uses a server-side prepared statement after the threshold",
                      ps.unwrap(PGStatement.class).isUseServerPrepare());
            }
            c.setAutoCommit(false);
            c.setReadOnly(true);  // BEGIN READ ONLY
            try (Statement st = c.createStatement()) {
                st.setFetchSize(25);
                List<Integer> got = new ArrayList<>();
                boolean allOnReplica = true;
                try (ResultSet rs = st.executeQuery("select g, pg_is_in_recovery() from generate_series(1, 130) g")) {
                    while (rs.next()) {
                        got.add(rs.getInt(1));
                        allOnReplica &= rs.getBoolean(2) == split;
                    }
                }
                eq("rows of a cursor-based fetch in a read-only transaction", got.size(), 130);
                eq("last row", got.get(got.size() - 1), 130);
                check("the read-only transaction ran on " + (split ? "a replica" : "the primary"), allOnReplica);
            }
            c.commit();
            c.setReadOnly(false);
            try (PreparedStatement ps = c.prepareStatement(WHERE_QUERY)) {
                eq("a read in a read-write transaction ran on the primary", where(c, ps).get(0), false);
            }
            c.commit();
            c.setAutoCommit(true);
        }

        void stepDdl(Connection c, int r) throws SQLException {
            String t = table + "_w" + w + "_r" + r;
            try (Statement st = c.createStatement()) {
                st.execute("create table " + t + " (k int primary key, v text not null)");
                eq("rows inserted", st.executeUpdate("insert into " + t + " select g, 'v' || g from generate_series(1, 10) g"), 10);
                c.setAutoCommit(false);
                st.execute("alter table " + t + " add column w int not null default " + w);
                st.execute("create index on " + t + " (v)");
                c.commit();
                c.setAutoCommit(true);
                try (ResultSet rs = st.executeQuery("select count(*), sum(k), min(w) from " + t)) {
                    rs.next();
                    eq("rows in the new table", Arrays.asList(rs.getInt(1), rs.getInt(2), rs.getInt(3)), Arrays.asList(10, 55, w));
                }
                st.execute("drop table " + t);
                try (ResultSet rs = st.executeQuery("select to_regclass('" + t + "')")) {
                    rs.next();
                    eq("table gone after drop", rs.getString(1), null);
                }
            }
        }

        PreparedStatement insert(Connection c) throws SQLException {
            return c.prepareStatement("insert into " + table + " (id, worker, round, n, note) values (?, ?, ?, ?, ?)");
        }

        void insertRow(PreparedStatement ps, int r, int k, String note) throws SQLException {
            ps.setInt(1, rid(r, k));
            ps.setInt(2, w);
            ps.setInt(3, r);
            ps.setInt(4, k);
            ps.setString(5, note);
        }

        void stepCommit(Connection c, int r) throws SQLException {
            c.setAutoCommit(false);
            try (PreparedStatement ps = insert(c)) {
                for (int k = 0; k < 10; k++) {
                    insertRow(ps, r, k, "commit " + k);
                    eq("insert count", ps.executeUpdate(), 1);
                }
            }
            eq("rows inside the transaction", count(c, r), Arrays.asList(10L, 45L));
            c.commit();
            c.setAutoCommit(true);
            eqRead("rows after commit", () -> count(c, r), Arrays.asList(10L, 45L));
            try (Connection other = connect(threshold, "jdbc-w" + w + "-peer")) {
                eqRead("rows after commit, seen by another connection", () -> count(other, r), Arrays.asList(10L, 45L));
            }
        }

        void stepBatch(Connection c, int r) throws SQLException {
            c.setAutoCommit(false);
            try (PreparedStatement ps = insert(c)) {
                for (int k = 100; k < 140; k++) {
                    insertRow(ps, r, k, k % 2 == 0 ? null : "batch");
                    ps.setInt(4, 1);
                    ps.addBatch();
                }
                int[] done = ps.executeBatch();
                eq("batch size", done.length, 40);
            }
            c.commit();
            c.setAutoCommit(true);
            eqRead("rows after the batch", () -> count(c, r), Arrays.asList(50L, 85L));
        }

        void stepRollback(Connection c, int r) throws SQLException {
            c.setAutoCommit(false);
            try (PreparedStatement ps = insert(c)) {
                for (int k = 200; k < 210; k++) {
                    insertRow(ps, r, k, "rolled back");
                    ps.executeUpdate();
                }
            }
            eq("rows inside the transaction", count(c, r), Arrays.asList(60L, 85L + 2045L));
            c.rollback();
            c.setAutoCommit(true);
            eqRead("rows after rollback", () -> count(c, r), Arrays.asList(50L, 85L));
        }

        void stepTxError(Connection c, int r) throws SQLException {
            c.setAutoCommit(false);
            try (PreparedStatement ps = insert(c)) {
                insertRow(ps, r, 300, "lost with the transaction");
                ps.executeUpdate();
                insertRow(ps, r, 0, "duplicate");
                expectError("duplicate key inside a transaction", "23505", ps::executeUpdate);
            }
            expectError("a statement after the error, before rollback", "25P02", () -> count(c, r));
            c.rollback();
            eq("rows after the failed transaction was rolled back", count(c, r), Arrays.asList(50L, 85L));
            c.commit();
            c.setAutoCommit(true);
        }

        void stepSavepoint(Connection c, int r) throws SQLException {
            c.setAutoCommit(false);
            try (PreparedStatement ps = insert(c)) {
                insertRow(ps, r, 400, "before the savepoint");
                ps.executeUpdate();
                Savepoint sp = c.setSavepoint();
                insertRow(ps, r, 1, "duplicate");
                expectError("duplicate key after a savepoint", "23505", ps::executeUpdate);
                c.rollback(sp);
                for (int k = 401; k < 410; k++) {
                    insertRow(ps, r, k, "after the savepoint");
                    ps.executeUpdate();
                }
            }
            c.commit();
            c.setAutoCommit(true);
            eqRead("rows kept around the failed savepoint", () -> count(c, r), Arrays.asList(60L, 85L + 4045L));
        }

        void stepErrors(Connection c) throws SQLException {
            try (Statement st = c.createStatement()) {
                expectError("syntax error", "42601", () -> st.execute("selec 1"));
                expectError("division by zero", "22012", () -> st.executeQuery("select 1 / 0").close());
                expectError("missing table", "42P01", () -> st.executeQuery("select * from no_such_table_here").close());
                try (ResultSet rs = st.executeQuery("select 1 + 1")) {
                    rs.next();
                    eq("query after the errors", rs.getInt(1), 2);
                }
            }
            try (PreparedStatement ps = c.prepareStatement("select 10 / ?")) {
                for (int i = 0; i < 6; i++) {
                    final int divisor = i % 3;
                    if (divisor == 0) {
                        ps.setInt(1, 0);
                        expectError("prepared division by zero", "22012", () -> ps.executeQuery().close());
                        ps.clearParameters();
                    }
                    ps.setInt(1, divisor == 0 ? 5 : divisor);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        eq("prepared statement after a failed execution", rs.getInt(1), 10 / (divisor == 0 ? 5 : divisor));
                    }
                }
            }
        }

        void stepParameters(Connection c) throws SQLException {
            String text = "O'Reilly \"quoted\" ; -- ? $1 \\ é ✓ 日本";
            OffsetDateTime moment = OffsetDateTime.of(2021, 3, 4, 5, 6, 7, 123456000, ZoneOffset.UTC);
            try (PreparedStatement ps = c.prepareStatement(
                    "select ?::int, ?::bigint, ?::float8, ?::numeric, ?::text, ?::int, ?::bytea, ?::timestamptz, "
                    + "?::int[], ?::jsonb ->> 'a', ?::bool")) {
                for (int i = 0; i < 3; i++) {
                    ps.setInt(1, 42);
                    ps.setLong(2, 1L << 40);
                    ps.setDouble(3, 3.25);
                    ps.setBigDecimal(4, new BigDecimal("12345.678901234567890"));
                    ps.setString(5, text);
                    ps.setNull(6, java.sql.Types.INTEGER);
                    ps.setBytes(7, new byte[] {0, 1, (byte) 0xfe, (byte) 0xff});
                    ps.setObject(8, moment);
                    Array arr = c.createArrayOf("int4", new Integer[] {1, 2, 3});
                    ps.setArray(9, arr);
                    ps.setString(10, "{\"a\": \"x\"}");
                    ps.setBoolean(11, true);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        eq("int", rs.getInt(1), 42);
                        eq("bigint", rs.getLong(2), 1L << 40);
                        eq("float8", rs.getDouble(3), 3.25);
                        eq("numeric", rs.getBigDecimal(4), new BigDecimal("12345.678901234567890"));
                        eq("text", rs.getString(5), text);
                        rs.getInt(6);
                        eq("null", rs.wasNull(), true);
                        eq("bytea", rs.getBytes(7), new byte[] {0, 1, (byte) 0xfe, (byte) 0xff});
                        eq("timestamptz", rs.getObject(8, OffsetDateTime.class).toInstant(), moment.toInstant());
                        eq("int[]", rs.getArray(9).getArray(), new Integer[] {1, 2, 3});
                        eq("jsonb", rs.getString(10), "x");
                        eq("bool", rs.getBoolean(11), true);
                    }
                }
            }
        }

        // The same statement texts on every client, run often enough that
        // every client uses named server-side statements (S_1, S_2, ... on
        // each connection), both inside and outside transactions.
        void stepPrepared(Connection c, int r) throws SQLException {
            String[] texts = {"select ?::int + 1", "select ?::text || 'x'",
                              "select count(*) from " + table + " where worker = ? and round = ?"};
            for (int loop = 0; loop < 8; loop++) {
                if (loop == 4) c.setAutoCommit(false);
                for (int q = 0; q < texts.length; q++) {
                    int k = (q + w) % texts.length;
                    try (PreparedStatement ps = c.prepareStatement(texts[k])) {
                        for (int i = 0; i < 3; i++) {
                            if (k == 0) ps.setInt(1, loop);
                            if (k == 1) ps.setString(1, "v" + loop);
                            if (k == 2) {
                                ps.setInt(1, w);
                                ps.setInt(2, r);
                            }
                            try (ResultSet rs = ps.executeQuery()) {
                                rs.next();
                                Object got = k == 1 ? rs.getString(1) : Long.valueOf(rs.getLong(1));
                                Object want = k == 0 ? Long.valueOf(loop + 1) : k == 1 ? "v" + loop + "x" : Long.valueOf(60);
                                eq("prepared " + texts[k], got, want);
                            }
                        }
                        if (loop == 7) check("server-side prepared: " + texts[k], ps.unwrap(PGStatement.class).isUseServerPrepare());
                    }
                }
                if (loop == 5) c.commit();
            }
            c.commit();
            c.setAutoCommit(true);
        }

        // setFetchSize inside a transaction: the driver reads the result
        // through a portal, a part at a time (Execute with a row limit,
        // PortalSuspended), while it runs other statements in between.
        void stepCursor(Connection c, int r) throws SQLException {
            c.setAutoCommit(false);
            List<Integer> ids = new ArrayList<>();
            int interleaved = 0;
            try (PreparedStatement ps = c.prepareStatement(
                    "select id from " + table + " where worker = ? order by id")) {
                ps.setFetchSize(7);
                ps.setInt(1, w);
                try (ResultSet rs = ps.executeQuery(); Statement other = c.createStatement()) {
                    while (rs.next()) {
                        ids.add(rs.getInt(1));
                        if (ids.size() % 20 == 0) {
                            try (ResultSet one = other.executeQuery("select " + ids.size())) {
                                one.next();
                                interleaved += one.getInt(1) == ids.size() ? 1 : 0;
                            }
                        }
                    }
                }
            }
            c.commit();
            c.setAutoCommit(true);
            eq("rows read through the cursor", ids.size(), ROWS_PER_ROUND * (r + 1));
            List<Integer> sorted = new ArrayList<>(ids);
            sorted.sort(null);
            eq("in order", ids, sorted);
            eq("statements run between the fetches", interleaved, ids.size() / 20);
        }

        void stepCopy(Connection c, int r) throws SQLException {
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            StringBuilder data = new StringBuilder();
            for (int k = 0; k < COPY_ROWS; k++)
                data.append(rid(r, k)).append(',').append(w).append(',').append(r).append(",\"copy ").append(k)
                    .append(", \"\"quoted\"\" é\"\n");
            try {
                long in = copy.copyIn("copy " + table + "_copy (id, worker, round, note) from stdin (format csv)",
                                      new StringReader(data.toString()));
                eq("rows reported by COPY FROM", in, (long) COPY_ROWS);
                StringWriter out = new StringWriter();
                long back = copy.copyOut("copy (select id, worker, round, note from " + table + "_copy where worker = "
                                         + w + " and round = " + r + " order by id) to stdout (format csv)", out);
                eq("rows reported by COPY TO", back, (long) COPY_ROWS);
                check("COPY TO returns what COPY FROM stored", out.toString().equals(data.toString()));
                // COPY inside a transaction that is rolled back leaves nothing.
                c.setAutoCommit(false);
                copy.copyIn("copy " + table + "_copy (id, worker, round, note) from stdin (format csv)",
                            new StringReader(rid(r, 5000) + "," + w + "," + r + ",gone\n"));
                c.rollback();
                c.setAutoCommit(true);
                // A failing COPY (duplicate keys) loads nothing; the session goes on.
                expectError("COPY with a duplicate key", "23505", () -> {
                    try {
                        copy.copyIn("copy " + table + "_copy (id, worker, round, note) from stdin (format csv)",
                                    new StringReader(data.toString()));
                    } catch (java.io.IOException e) {
                        throw new SQLException(e);
                    }
                });
            } catch (java.io.IOException e) {
                fail(who, step, "IOException: " + e.getMessage());
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "select count(*) from " + table + "_copy where worker = ? and round = ?")) {
                ps.setInt(1, w);
                ps.setInt(2, r);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    eq("rows in the copy table", rs.getInt(1), COPY_ROWS);
                }
            }
        }

        void stepAfter(Connection c, int r) throws SQLException {
            check("connection still valid", c.isValid(10));
            eqRead("rows at the end of the round", () -> count(c, r), Arrays.asList(60L, 85L + 4045L));
        }
    }

    interface SqlRunnable {
        void run() throws SQLException;
    }

    interface SqlSupplier<T> {
        T get() throws SQLException;
    }

    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String show(Object o) {
        if (o instanceof byte[]) return Arrays.toString((byte[]) o);
        if (o instanceof Object[]) return Arrays.deepToString((Object[]) o);
        return String.valueOf(o);
    }

    public static void main(String[] args) throws Exception {
        url = args[0];
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--clients": clients = Integer.parseInt(args[++i]); break;
                case "--rounds": rounds = Integer.parseInt(args[++i]); break;
                case "--timeout": timeoutS = Double.parseDouble(args[++i]); break;
                case "--split": split = true; break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        Thread watchdog = new Thread(() -> {
            sleepMs((long) (timeoutS * 1000));
            fail("main", "timeout", "workload did not finish within " + timeoutS + " s");
            report();
            System.out.flush();
            Runtime.getRuntime().halt(3);
        });
        watchdog.setDaemon(true);
        watchdog.start();
        table = "drv_jdbc_" + ProcessHandle.current().pid() + "_" + Long.toHexString(System.nanoTime() & 0xffffff);
        try (Connection main = connect(-1, "jdbc-main"); Statement st = main.createStatement()) {
            st.execute("create table " + table + " (id int primary key, worker int not null, round int not null, "
                       + "n int not null, note text)");
            st.execute("create table " + table + "_copy (id int primary key, worker int not null, round int not null, "
                       + "note text)");
            try {
                List<Thread> threads = new ArrayList<>();
                for (int i = 0; i < clients; i++) threads.add(new Thread(new Client(i), "client-" + i));
                for (Thread t : threads) t.start();
                for (Thread t : threads) t.join();
            } finally {
                st.execute("drop table if exists " + table + ", " + table + "_copy");
            }
        } catch (SQLException e) {
            fail("main", "setup", "unexpected SQLException SQLSTATE " + e.getSQLState() + ": " + e.getMessage());
        }
        System.exit(report());
    }
}
