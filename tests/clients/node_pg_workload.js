#!/usr/bin/env node
// A realistic node-postgres (pg) workload through pggate: several clients
// at once, each with its own pg.Client, doing DDL, transactions that commit
// and roll back, savepoints, parameterized queries (extended protocol,
// unnamed statements), named prepared statements that pg caches per
// connection (the same names and texts on every client), multi-statement
// simple queries, rowMode 'array', typed values, and errors: a failing
// statement inside a transaction, the transaction refused until ROLLBACK,
// then the client goes on. Then a pg.Pool smaller than the number of
// concurrent requests. node-postgres has no COPY of its own. With --split,
// reads outside a transaction must run on replicas. Prints a line per failed
// check and the verdict "node-pg: all N checks passed" (exit 0) or
// "node-pg: N failed checks" (exit 1), for tests/clients/test_drivers.cpp.
//
//   NODE_PATH=/usr/share/nodejs:/usr/lib/node_modules node tests/clients/node_pg_workload.js \
//       'host=127.0.0.1 port=6432 dbname=postgres user=postgres' --clients 8 --rounds 2 --split
'use strict';

const assert = require('assert');
const pg = require('pg');

const DRIVER = 'node-pg';
const WHERE_QUERY = 'select pg_is_in_recovery() as replica, inet_server_port() as port';
const REPLICA_WAIT_MS = 15000;

// ---- command line ----

function parseDsn(dsn) {
  const out = {};
  for (const m of dsn.matchAll(/(\w+)\s*=\s*('((?:[^'\\]|\\.)*)'|\S+)/g)) {
    out[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2];
  }
  return out;
}

const args = process.argv.slice(2);
const cfg = { dsn: parseDsn(args[0] || ''), clients: 8, rounds: 2, split: false, timeout: 240 };
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--clients') cfg.clients = Number(args[++i]);
  else if (args[i] === '--rounds') cfg.rounds = Number(args[++i]);
  else if (args[i] === '--timeout') cfg.timeout = Number(args[++i]);
  else if (args[i] === '--split') cfg.split = true;
  else throw new Error(`unknown argument ${args[i]}`);
}

function connection(app) {
  const d = cfg.dsn;
  return {
    host: d.host || '127.0.0.1', port: Number(d.port || 5432), user: d.user || 'postgres',
    database: d.dbname || d.user || 'postgres', password: d.password, application_name: app,
    connectionTimeoutMillis: 20000, query_timeout: 120000,
  };
}

// ---- checks ----

const failures = new Map();  // "step: message" -> count
let passed = 0;
const replicaPorts = new Set();
const extendedReads = { total: 0, onReplica: 0 };

function fail(who, step, message) {
  const key = `${step}: ${message}`;
  if (!failures.has(key)) {
    failures.set(key, 0);
    process.stderr.write(`FAIL ${DRIVER} [${who}] ${key}\n`);
  }
  failures.set(key, failures.get(key) + 1);
}

function report() {
  if (failures.size === 0) {
    if (cfg.split) {
      console.log(`note: reads outside transactions ran on the replicas on ports ${[...replicaPorts].sort()}`);
      console.log(`note: ${extendedReads.onReplica} of ${extendedReads.total} extended-protocol reads outside transactions ran on a replica`);
    }
    console.log(`${DRIVER}: all ${passed} checks passed`);
    return 0;
  }
  let total = 0;
  for (const n of failures.values()) total += n;
  console.log(`${DRIVER}: ${total} failed checks (${failures.size} distinct), ${passed} passed:`);
  for (const [key, n] of failures) console.log(`  FAIL ${key}${n > 1 ? `  (x${n})` : ''}`);
  return 1;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Client {
  constructor(index, table) {
    this.w = index;
    this.table = table;
    this.who = '';
    this.step = '';
  }

  eq(what, actual, expected) {
    try {
      assert.deepStrictEqual(actual, expected);
      passed++;
    } catch (e) {
      fail(this.who, this.step, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
  }

  // With splitting a read may run on a replica that has not replayed a
  // commit yet: asked again until it agrees, for a bounded time.
  async eqRead(what, read, expected) {
    if (!cfg.split) {
      this.eq(what, await read(), expected);
      return;
    }
    // An error (a table the replica does not have yet) counts as not yet.
    const deadline = Date.now() + REPLICA_WAIT_MS;
    for (;;) {
      let actual;
      try {
        actual = await read();
      } catch (e) {
        if (Date.now() >= deadline) throw e;
        actual = undefined;
      }
      if (isDeepStrictEqual(actual, expected) || Date.now() >= deadline) {
        this.eq(what, actual, expected);
        return;
      }
      await sleep(20);
    }
  }

  async expectError(what, sqlstate, body) {
    try {
      await body();
      fail(this.who, this.step, `${what}: no error (expected SQLSTATE ${sqlstate})`);
    } catch (e) {
      if (e.code === undefined) throw e;
      this.eq(`${what} SQLSTATE`, e.code, sqlstate);
    }
  }

  rid(r, k) { return this.w * 100000 + r * 10000 + k; }

  async count(c, r) {
    const res = await c.query({ name: 'count_rows', text: `select count(*)::int as n, coalesce(sum(n), 0)::int as s from ${this.table} where worker = $1 and round = $2`, values: [this.w, r] });
    return [res.rows[0].n, res.rows[0].s];
  }

  async run() {
    for (let r = 0; r < cfg.rounds; r++) await this.round(r);
  }

  async round(r) {
    this.who = `client ${this.w} round ${r}`;
    this.step = 'connect';
    const c = new pg.Client(connection(`node-pg-w${this.w}`));
    try {
      await c.connect();
    } catch (e) {
      fail(this.who, this.step, `connect failed: ${e.message}`);
      return;
    }
    const steps = [
      ['reads outside a transaction', () => this.stepWhere(c)],
      ['ddl', () => this.stepDdl(c, r)],
      ['commit', () => this.stepCommit(c, r)],
      ['rollback', () => this.stepRollback(c, r)],
      ['error inside a transaction', () => this.stepTxError(c, r)],
      ['savepoint', () => this.stepSavepoint(c, r)],
      ['errors outside a transaction', () => this.stepErrors(c)],
      ['parameters', () => this.stepParameters(c)],
      ['named prepared statements', () => this.stepPrepared(c, r)],
      ['multi-statement query', () => this.stepMulti(c, r)],
    ];
    try {
      for (const [name, fn] of steps) {
        this.step = name;
        try {
          await fn();
        } catch (e) {
          fail(this.who, this.step, `unexpected error${e.code ? ` SQLSTATE ${e.code}` : ''}: ${e.message}`);
          try {
            await c.query('rollback');
          } catch (e2) {
            fail(this.who, `${this.step} (rollback after error)`, e2.message);
            return;
          }
        }
      }
    } finally {
      await c.end();
    }
  }

  // Before this connection writes anything: with read/write splitting its
  // simple-protocol reads run on replicas. pg writes an extended-protocol
  // query as separate Parse/Bind/Describe/Execute, Flush and Sync writes;
  // pggate sends a segment cut after its Flush to the primary (the client
  // may wait for the Flush's answers), so where those run depends on
  // timing: they are counted, not checked.
  async stepWhere(c) {
    const simple = [];
    for (let i = 0; i < 3; i++) simple.push((await c.query(WHERE_QUERY)).rows[0]);
    this.eq('simple-protocol reads ran on a replica', simple.map((x) => x.replica), simple.map(() => cfg.split));
    if (cfg.split) for (const x of simple) replicaPorts.add(x.port);
    const extended = [(await c.query(`${WHERE_QUERY} where $1::int > 0`, [1])).rows[0]];
    for (let i = 0; i < 3; i++) extended.push((await c.query({ name: 'where', text: WHERE_QUERY })).rows[0]);
    if (cfg.split) {
      extendedReads.total += extended.length;
      extendedReads.onReplica += extended.filter((x) => x.replica).length;
    } else {
      this.eq('extended-protocol reads ran on the primary', extended.map((x) => x.replica), extended.map(() => false));
    }
    await c.query('begin');
    const inTx = (await c.query({ name: 'where', text: WHERE_QUERY })).rows[0];
    await c.query('commit');
    this.eq('a read inside a transaction ran on the primary', inTx.replica, false);
    await c.query('begin read only');
    const readOnly = (await c.query(WHERE_QUERY)).rows[0];
    await c.query('commit');
    this.eq('a read in a read-only transaction ran on a replica', readOnly.replica, cfg.split);
  }

  async stepDdl(c, r) {
    const t = `${this.table}_w${this.w}_r${r}`;
    await c.query(`create table ${t} (k int primary key, v text not null)`);
    const ins = await c.query(`insert into ${t} select g, 'v' || g from generate_series(1, $1::int) g`, [10]);
    this.eq('rows inserted', ins.rowCount, 10);
    await c.query('begin');
    await c.query(`alter table ${t} add column w int not null default ${this.w}`);
    await c.query(`create index on ${t} (v)`);
    await c.query('commit');
    const res = await c.query(`select count(*)::int, sum(k)::int, min(w) from ${t}`);
    this.eq('rows in the new table', Object.values(res.rows[0]), [10, 55, this.w]);
    await c.query(`drop table ${t}`);
    this.eq('table gone after drop', (await c.query('select to_regclass($1)::text as t', [t])).rows[0].t, null);
  }

  async insert(c, r, k, n, note) {
    const res = await c.query({ name: 'insert_row', text: `insert into ${this.table} (id, worker, round, n, note) values ($1, $2, $3, $4, $5)`, values: [this.rid(r, k), this.w, r, n, note] });
    this.eq('insert rowCount', res.rowCount, 1);
  }

  async stepCommit(c, r) {
    await c.query('begin');
    for (let k = 0; k < 10; k++) await this.insert(c, r, k, k, `commit ${k}`);
    this.eq('rows inside the transaction', await this.count(c, r), [10, 45]);
    await c.query('commit');
    await this.eqRead('rows after commit', () => this.count(c, r), [10, 45]);
    const other = new pg.Client(connection(`node-pg-w${this.w}-peer`));
    await other.connect();
    try {
      await this.eqRead('rows after commit, seen by another connection', () => this.count(other, r), [10, 45]);
    } finally {
      await other.end();
    }
  }

  async stepRollback(c, r) {
    await c.query('begin');
    for (let k = 100; k < 105; k++) await this.insert(c, r, k, 1, 'rolled back');
    this.eq('rows inside the transaction', await this.count(c, r), [15, 50]);
    await c.query('rollback');
    await this.eqRead('rows after rollback', () => this.count(c, r), [10, 45]);
  }

  async stepTxError(c, r) {
    await c.query('begin');
    await this.insert(c, r, 200, 1, 'lost with the transaction');
    await this.expectError('duplicate key inside a transaction', '23505', () => this.insert(c, r, 0, 0, 'duplicate'));
    await this.expectError('a statement after the error, before ROLLBACK', '25P02', () => c.query('select 1'));
    const rb = await c.query('rollback');
    this.eq('ROLLBACK of the failed transaction', rb.command, 'ROLLBACK');
    // COMMIT of a failed transaction is answered ROLLBACK.
    await c.query('begin');
    await this.expectError('division by zero inside a transaction', '22012', () => c.query('select 1 / $1::int', [0]));
    const commit = await c.query('commit');
    this.eq('COMMIT of a failed transaction', commit.command, 'ROLLBACK');
    await this.eqRead('rows after the failed transactions', () => this.count(c, r), [10, 45]);
  }

  async stepSavepoint(c, r) {
    await c.query('begin');
    await this.insert(c, r, 300, 300, 'before the savepoint');
    await c.query('savepoint sp');
    await this.expectError('duplicate key after a savepoint', '23505', () => this.insert(c, r, 1, 1, 'duplicate'));
    await c.query('rollback to savepoint sp');
    for (let k = 301; k < 305; k++) await this.insert(c, r, k, 1, 'after the savepoint');
    await c.query('commit');
    await this.eqRead('rows kept around the failed savepoint', () => this.count(c, r), [15, 349]);
  }

  async stepErrors(c) {
    await this.expectError('syntax error', '42601', () => c.query('selec 1'));
    await this.expectError('division by zero', '22012', () => c.query('select 1 / 0'));
    await this.expectError('missing table', '42P01', () => c.query('select * from no_such_table_here'));
    await this.expectError('bad parameter', '22P02', () => c.query('select $1::int', ['not a number']));
    this.eq('query after the errors', (await c.query('select 1 + 1 as v')).rows[0].v, 2);
    await this.expectError('named statement that fails', '22012', () => c.query({ name: 'div', text: 'select 10 / $1::int as v', values: [0] }));
    this.eq('the same named statement afterwards', (await c.query({ name: 'div', text: 'select 10 / $1::int as v', values: [5] })).rows[0].v, 2);
  }

  async stepParameters(c) {
    const text = "O'Reilly \"quoted\" ; -- $1 \\ é ✓ 日本";
    const moment = new Date(Date.UTC(2021, 2, 4, 5, 6, 7, 123));
    const res = await c.query({
      text: 'select $1::int as i, $2::bigint as b, $3::float8 as f, $4::numeric as n, $5::text as t, $6::int as z, ' +
            '$7::bytea as y, $8::timestamptz as ts, $9::int[] as a, $10::jsonb as j, $11::bool as o',
      values: [42, '1099511627776', 3.25, '12345.678901234567890', text, null, Buffer.from([0, 1, 0xfe, 0xff]),
               moment, [1, 2, 3], JSON.stringify({ a: [1, 'x'], b: null }), true],
    });
    const row = res.rows[0];
    this.eq('int', row.i, 42);
    this.eq('bigint (as text)', row.b, '1099511627776');
    this.eq('float8', row.f, 3.25);
    this.eq('numeric (as text)', row.n, '12345.678901234567890');
    this.eq('text', row.t, text);
    this.eq('null', row.z, null);
    this.eq('bytea', [...row.y], [0, 1, 0xfe, 0xff]);
    this.eq('timestamptz', row.ts.getTime(), moment.getTime());
    this.eq('int[]', row.a, [1, 2, 3]);
    this.eq('jsonb', row.j, { a: [1, 'x'], b: null });
    this.eq('bool', row.o, true);
    const arr = await c.query({ text: 'select $1::int as a, $2::text as b', values: [7, 'x'], rowMode: 'array' });
    this.eq("rowMode 'array'", arr.rows, [[7, 'x']]);
  }

  // pg parses a named statement once per connection and then only binds
  // and executes it: the same names on every client, some used in
  // transactions, so that pggate has to carry them to whichever server
  // serves the client.
  async stepPrepared(c, r) {
    const queries = [
      [{ name: 'plus_one', text: 'select $1::int + 1 as v' }, (i) => [i], (i) => i + 1],
      [{ name: 'concat', text: "select $1::text || 'x' as v" }, (i) => [`v${i}`], (i) => `v${i}x`],
      [{ name: 'count_rows', text: `select count(*)::int as n, coalesce(sum(n), 0)::int as s from ${this.table} where worker = $1 and round = $2` },
       () => [this.w, r], () => undefined],
    ];
    for (let loop = 0; loop < 10; loop++) {
      if (loop === 4) await c.query('begin');
      for (let q = 0; q < queries.length; q++) {
        const [stmt, values, expected] = queries[(q + this.w) % queries.length];
        const res = await c.query({ ...stmt, values: values(loop) });
        if (stmt.name === 'count_rows') this.eq(`prepared ${stmt.name}`, [res.rows[0].n, res.rows[0].s], [15, 349]);
        else this.eq(`prepared ${stmt.name}`, res.rows[0].v, expected(loop));
      }
      if (loop === 6) await c.query('commit');
    }
  }

  async stepMulti(c, r) {
    const results = await c.query(`select 1 as a; select count(*)::int as n from ${this.table} where worker = ${this.w} and round = ${r}; select 'x' as b`);
    this.eq('results of a multi-statement query', results.map((x) => x.rows[0]), [{ a: 1 }, { n: 15 }, { b: 'x' }]);
    await this.expectError('multi-statement query failing in its second statement', '22012',
      () => c.query('select 1; select 1 / 0; select 3'));
    this.eq('query after the failed multi-statement query', (await c.query('select 4 as v')).rows[0].v, 4);
  }
}

function isDeepStrictEqual(a, b) {
  return require('util').isDeepStrictEqual(a, b);
}

// A pool smaller than the number of requests it serves at once, with
// transactions on checked-out clients between plain pool.query calls.
async function poolPhase(table) {
  const who = 'pool';
  const pool = new pg.Pool({ ...connection('node-pg-pool'), max: 3, idleTimeoutMillis: 1000 });
  try {
    const reqs = [];
    for (let i = 0; i < 30; i++) {
      reqs.push((async () => {
        if (i % 5 === 0) {
          const client = await pool.connect();
          try {
            await client.query('begin');
            await client.query(`insert into ${table} (id, worker, round, n, note) values ($1, -1, -1, $2, 'pool')`, [900000 + i, i]);
            const res = await client.query(`select count(*)::int as n from ${table} where id = $1`, [900000 + i]);
            await client.query('commit');
            return res.rows[0].n;
          } finally {
            client.release();
          }
        }
        const res = await pool.query({ name: 'pool_q', text: 'select $1::int * 2 as v', values: [i] });
        return res.rows[0].v / 2;
      })());
    }
    const got = await Promise.all(reqs);
    const expected = got.map((_, i) => (i % 5 === 0 ? 1 : i));
    const c = new Client(-1, table);
    c.who = who;
    c.step = 'pool';
    c.eq('pool results', got, expected);
    await c.eqRead('rows written through the pool', async () => (await pool.query(`select count(*)::int as n from ${table} where worker = -1`)).rows[0].n, 6);
  } finally {
    await pool.end();
  }
}

async function main() {
  const timer = setTimeout(() => {
    fail('main', 'timeout', `workload did not finish within ${cfg.timeout} s`);
    report();
    process.exit(3);
  }, cfg.timeout * 1000);
  const table = `drv_node_pg_${process.pid}_${Math.floor(Math.random() * 0xffffff).toString(16)}`;
  const main = new pg.Client(connection('node-pg-main'));
  try {
    await main.connect();
    await main.query(`create table ${table} (id int primary key, worker int not null, round int not null, n int not null, note text)`);
    try {
      const clients = [];
      for (let i = 0; i < cfg.clients; i++) clients.push(new Client(i, table));
      await Promise.all(clients.map((c) => c.run()));
      await poolPhase(table);
    } finally {
      await main.query(`drop table if exists ${table}`);
      await main.end();
    }
  } catch (e) {
    fail('main', 'main', `unexpected error${e.code ? ` SQLSTATE ${e.code}` : ''}: ${e.message}`);
  }
  clearTimeout(timer);
  process.exitCode = report();
}

main();
