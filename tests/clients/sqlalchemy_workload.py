#!/usr/bin/python3
"""A realistic SQLAlchemy ORM workload (SQLAlchemy 1.4 with psycopg2): the
schema made with metadata.create_all, several threads sharing one engine's
connection pool as a web application's request handlers do, each through
ORM sessions that add objects with relationships, query them back (lazy,
joined and selectin loading), update, delete with cascades, roll back,
use savepoints, bulk inserts (executemany), stream results through a
server-side cursor (yield_per), COPY through the raw DBAPI connection, and
fail: a duplicate key inside a transaction, the session rolled back and
used again. A second engine in autocommit serves reads the way an
application sends them to read replicas: with read/write splitting they run
on replicas and must show what the other engine committed.
Exits 0 only when every check passed.

  /usr/bin/python3 tests/clients/sqlalchemy_workload.py \
      'host=127.0.0.1 port=6432 dbname=postgres user=postgres' --clients 8 --mode transaction --split
"""

import decimal
import io
import sys
import threading
import time

import psycopg2
import sqlalchemy as sa
from sqlalchemy import orm

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from workload_common import WHERE_QUERY, Checks, ClientBase, Main, parse_args, replica_ports_seen, start_watchdog

DRIVER = "sqlalchemy"
CUSTOMERS_PER_ROUND = 4  # customers each client round leaves behind
ORDERS_PER_CUSTOMER = 3
BULK_ORDERS = 40  # bulk-inserted orders each round adds to its first customer
COPY_ROWS = 150  # audit rows each round loads with COPY


def make_models(suffix):
    """The ORM classes of one run, on tables of its own."""
    registry = orm.registry()
    Base = registry.generate_base()

    class Customer(Base):
        __tablename__ = f"drv_sa_customer_{suffix}"
        id = sa.Column(sa.Integer, primary_key=True)
        worker = sa.Column(sa.Integer, nullable=False, index=True)
        round = sa.Column(sa.Integer, nullable=False)
        email = sa.Column(sa.String(120), nullable=False, unique=True)
        name = sa.Column(sa.Text, nullable=False)
        balance = sa.Column(sa.Numeric(12, 2), nullable=False, default=decimal.Decimal("0.00"))
        created = sa.Column(sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)
        orders = orm.relationship("Order", back_populates="customer", cascade="all, delete-orphan",
                                  order_by="Order.id")

    class Order(Base):
        __tablename__ = f"drv_sa_order_{suffix}"
        id = sa.Column(sa.Integer, primary_key=True)
        customer_id = sa.Column(sa.ForeignKey(f"{Customer.__tablename__}.id", ondelete="CASCADE"), nullable=False,
                                index=True)
        item = sa.Column(sa.Text, nullable=False)
        quantity = sa.Column(sa.Integer, nullable=False)
        price = sa.Column(sa.Numeric(10, 2), nullable=False)
        tags = sa.Column(sa.ARRAY(sa.Text), nullable=False, default=list)
        customer = orm.relationship(Customer, back_populates="orders")

    audit = sa.Table(f"drv_sa_audit_{suffix}", Base.metadata,
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("worker", sa.Integer, nullable=False),
                     sa.Column("note", sa.Text))
    return Base.metadata, Customer, Order, audit


class Client(ClientBase):
    def __init__(self, cfg, checks, index, engine, reader, models):
        super().__init__(DRIVER, cfg, checks, index, "")
        self.engine = engine
        self.reader = reader
        self.metadata, self.Customer, self.Order, self.audit = models

    def email(self, r, k):
        return f"w{self.w}r{r}c{k}@example.org"

    def mine(self, r):
        C = self.Customer
        return sa.select(C).where(C.worker == self.w, C.round == r).order_by(C.id)

    def read_counts(self, r):
        """(customers, orders) of this round, read through the autocommit engine."""
        C, O = self.Customer, self.Order
        with orm.Session(self.reader) as s:
            customers = s.scalar(sa.select(sa.func.count()).select_from(C).where(C.worker == self.w, C.round == r))
            orders = s.scalar(sa.select(sa.func.count()).select_from(O).join(C)
                              .where(C.worker == self.w, C.round == r))
        return customers, orders

    # ---- the workload ----

    def round(self, r):
        self.who = f"client {self.w} round {r}"
        steps = [
            ("reads outside a transaction", self.step_where),
            ("add and commit", self.step_add),
            ("query and load relationships", self.step_query),
            ("update", self.step_update),
            ("rollback", self.step_rollback),
            ("error inside a transaction, then on", self.step_error),
            ("savepoint", self.step_savepoint),
            ("bulk insert", self.step_bulk),
            ("yield_per (server-side cursor)", self.step_stream),
            ("copy", self.step_copy),
            ("delete with cascade", self.step_delete),
            ("replica reads", self.step_replica_reads),
        ]
        for name, fn in steps:
            self.step = name
            started = time.monotonic()
            try:
                fn(r)
                self.checks.timed(self.who, name, started)
            except Exception as e:
                self.checks.exception(self.who, self.step, e)

    def step_where(self, r):
        """The reader engine never writes, so with read/write splitting
        every read it sends runs on a replica."""
        with self.reader.connect() as c:
            rows = [tuple(c.execute(sa.text(WHERE_QUERY)).one()) for _ in range(3)]
            rows.append(tuple(c.execute(sa.text(WHERE_QUERY + " where :n > 0"), {"n": 1}).one()))
        self.check_where(rows, "reader engine")
        with orm.Session(self.engine) as s:  # the default engine opens a transaction
            self.eq("an ORM session's read ran on the primary", s.execute(sa.text(WHERE_QUERY)).one()[0], False)

    def step_add(self, r):
        C, O = self.Customer, self.Order
        with orm.Session(self.engine) as s:
            for k in range(CUSTOMERS_PER_ROUND):
                c = C(worker=self.w, round=r, email=self.email(r, k), name=f"Customer {k} ✓ «{self.w}»",
                      balance=decimal.Decimal(f"{k}.25"))
                c.orders = [O(item=f"item {k}/{j}", quantity=j + 1, price=decimal.Decimal("9.99"),
                              tags=["new", f"k{k}"]) for j in range(ORDERS_PER_CUSTOMER)]
                s.add(c)
            s.commit()
            ids = s.scalars(sa.select(C.id).where(C.worker == self.w, C.round == r)).all()
            self.eq("customers after commit", len(ids), CUSTOMERS_PER_ROUND)
        self.eq_read("customers and orders after commit, read through the reader engine",
                     lambda: self.read_counts(r), (CUSTOMERS_PER_ROUND, CUSTOMERS_PER_ROUND * ORDERS_PER_CUSTOMER))

    def step_query(self, r):
        C, O = self.Customer, self.Order
        with orm.Session(self.engine) as s:
            customers = s.scalars(self.mine(r)).all()
            self.eq("customers by ORM query", [c.email for c in customers],
                    [self.email(r, k) for k in range(CUSTOMERS_PER_ROUND)])
            self.eq("lazy-loaded orders", [len(c.orders) for c in customers],
                    [ORDERS_PER_CUSTOMER] * CUSTOMERS_PER_ROUND)
            self.eq("numeric and text round trip", (customers[1].balance, customers[1].name),
                    (decimal.Decimal("1.25"), f"Customer 1 ✓ «{self.w}»"))
            self.eq("array column", customers[2].orders[0].tags, ["new", "k2"])
            s.expunge_all()
            joined = s.scalars(self.mine(r).options(orm.joinedload(C.orders))).unique().all()
            self.eq("joinedload", sum(len(c.orders) for c in joined), CUSTOMERS_PER_ROUND * ORDERS_PER_CUSTOMER)
            s.expunge_all()
            selectin = s.scalars(self.mine(r).options(orm.selectinload(C.orders))).all()
            self.eq("selectinload", [o.quantity for o in selectin[0].orders], list(range(1, ORDERS_PER_CUSTOMER + 1)))
            row = s.execute(sa.select(sa.func.count(O.id), sa.func.sum(O.quantity * O.price)).join(C)
                            .where(C.worker == self.w, C.round == r)).one()
            self.eq("aggregate over a join", tuple(row),
                    (CUSTOMERS_PER_ROUND * ORDERS_PER_CUSTOMER, decimal.Decimal("9.99") * 6 * CUSTOMERS_PER_ROUND))
            first = s.get(C, customers[0].id)
            self.eq("Session.get", first.email, self.email(r, 0))
            s.rollback()

    def step_update(self, r):
        C = self.Customer
        with orm.Session(self.engine) as s:
            c = s.scalars(self.mine(r)).first()
            c.balance += decimal.Decimal("100.50")
            c.orders[0].quantity = 42
            s.commit()
            s.execute(sa.update(C).where(C.worker == self.w, C.round == r, C.id != c.id)
                      .values(name=C.name + " (updated)"))
            s.commit()
        with orm.Session(self.engine) as s:
            rows = s.scalars(self.mine(r)).all()
            self.eq("ORM update", (rows[0].balance, rows[0].orders[0].quantity), (decimal.Decimal("100.75"), 42))
            self.eq("Core update", sum(x.name.endswith(" (updated)") for x in rows), CUSTOMERS_PER_ROUND - 1)

    def step_rollback(self, r):
        C, O = self.Customer, self.Order
        with orm.Session(self.engine) as s:
            s.add(C(worker=self.w, round=r, email=self.email(r, 90), name="rolled back",
                    orders=[O(item="x", quantity=1, price=1)]))
            s.flush()
            self.eq("customers inside the transaction", len(s.scalars(self.mine(r)).all()), CUSTOMERS_PER_ROUND + 1)
            s.rollback()
            self.eq("customers after rollback", len(s.scalars(self.mine(r)).all()), CUSTOMERS_PER_ROUND)
        self.eq_read("after rollback, read through the reader engine", lambda: self.read_counts(r),
                     (CUSTOMERS_PER_ROUND, CUSTOMERS_PER_ROUND * ORDERS_PER_CUSTOMER))

    def step_error(self, r):
        """A failing statement inside a transaction: the driver raises with
        the SQLSTATE, the transaction is lost, and after rollback the same
        session carries on."""
        C = self.Customer
        with orm.Session(self.engine) as s:
            s.add(C(worker=self.w, round=r, email=self.email(r, 91), name="first"))
            s.flush()
            s.add(C(worker=self.w, round=r, email=self.email(r, 0), name="duplicate"))
            try:
                s.flush()
                self.true("duplicate email raises IntegrityError", False, "no error")
            except sa.exc.IntegrityError as e:
                self.eq("SQLSTATE of the duplicate", e.orig.pgcode, "23505")
            s.rollback()
            try:
                s.execute(sa.text("select 1 / :zero"), {"zero": 0})
                self.true("division by zero fails", False, "no error")
            except sa.exc.DataError as e:
                self.eq("SQLSTATE of the division by zero", e.orig.pgcode, "22012")
            s.rollback()
            self.eq("the session carries on after the errors", len(s.scalars(self.mine(r)).all()),
                    CUSTOMERS_PER_ROUND)
            s.add(C(worker=self.w, round=r, email=self.email(r, 92), name="after the error"))
            s.commit()
            self.eq("the row added after the errors", s.scalar(sa.select(C.name).where(C.email == self.email(r, 92))),
                    "after the error")
            self.eq("the row of the failed transaction is gone",
                    s.scalar(sa.select(sa.func.count()).select_from(C).where(C.email == self.email(r, 91))), 0)
            s.delete(s.scalars(sa.select(C).where(C.email == self.email(r, 92))).one())
            s.commit()

    def step_savepoint(self, r):
        C, O = self.Customer, self.Order
        with orm.Session(self.engine) as s:
            c = s.scalars(self.mine(r)).first()
            c.orders.append(O(item="kept", quantity=1, price=2))
            try:
                with s.begin_nested():
                    s.add(C(worker=self.w, round=r, email=self.email(r, 1), name="duplicate in a savepoint"))
                self.true("duplicate inside a savepoint raises", False, "no error")
            except sa.exc.IntegrityError as e:
                self.eq("SQLSTATE inside the savepoint", e.orig.pgcode, "23505")
            with s.begin_nested():
                c.orders.append(O(item="kept too", quantity=2, price=2))
            s.commit()
        with orm.Session(self.engine) as s:
            items = [o.item for o in s.scalars(self.mine(r)).first().orders]
            self.eq("orders kept around the failed savepoint", items[-2:], ["kept", "kept too"])
            first = s.scalars(self.mine(r)).first()
            for o in first.orders[-2:]:
                s.delete(o)
            s.commit()

    def step_bulk(self, r):
        C, O = self.Customer, self.Order
        with orm.Session(self.engine) as s:
            cid = s.scalars(sa.select(C.id).where(C.worker == self.w, C.round == r).order_by(C.id)).first()
            s.execute(sa.insert(O), [{"customer_id": cid, "item": f"bulk {i}", "quantity": i, "price": 1,
                                      "tags": []} for i in range(BULK_ORDERS)])
            s.commit()
            n = s.scalar(sa.select(sa.func.count()).select_from(O).where(O.customer_id == cid))
            self.eq("orders after the bulk insert", n, ORDERS_PER_CUSTOMER + BULK_ORDERS)
        self.eq_read("orders after the bulk insert, read through the reader engine", lambda: self.read_counts(r),
                     (CUSTOMERS_PER_ROUND, CUSTOMERS_PER_ROUND * ORDERS_PER_CUSTOMER + BULK_ORDERS))

    def step_stream(self, r):
        """yield_per makes psycopg2 read through a named server-side cursor,
        in batches, inside the session's transaction."""
        C, O = self.Customer, self.Order
        with orm.Session(self.engine) as s:
            q = (sa.select(O.item).join(C).where(C.worker == self.w, C.round == r, O.item.like("bulk %"))
                 .order_by(O.quantity).execution_options(yield_per=7))
            items = [row.item for row in s.execute(q)]
            self.eq("rows streamed through a server-side cursor", items, [f"bulk {i}" for i in range(BULK_ORDERS)])
            s.commit()

    def step_copy(self, r):
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            base = self.w * 100000 + r * 10000
            data = "".join(f"{base + i}\t{self.w}\tcopy {i} é\\t\n" for i in range(COPY_ROWS))
            cur.copy_expert(f"copy {self.audit.name} (id, worker, note) from stdin", io.StringIO(data))
            self.eq("rows reported by COPY FROM", cur.rowcount, COPY_ROWS)
            raw.commit()
            out = io.StringIO()
            cur.copy_expert(f"copy (select id, worker, note from {self.audit.name} where id >= {base} and "
                            f"id < {base + COPY_ROWS} order by id) to stdout", out)
            raw.commit()
            self.true("COPY TO returns what COPY FROM stored", out.getvalue() == data,
                      f"first line {out.getvalue()[:40]!r}")
        finally:
            raw.close()
        a = self.audit
        with orm.Session(self.engine) as s:
            self.eq("COPY rows seen by the ORM session",
                    s.scalar(sa.select(sa.func.count()).select_from(a).where(a.c.worker == self.w,
                                                                           a.c.id >= base)), COPY_ROWS)

    def step_delete(self, r):
        C, O = self.Customer, self.Order
        with orm.Session(self.engine) as s:
            extra = C(worker=self.w, round=r, email=self.email(r, 93), name="deleted",
                      orders=[O(item="gone", quantity=1, price=1) for _ in range(3)])
            s.add(extra)
            s.commit()
            eid = extra.id
            s.delete(extra)
            s.commit()
            left = s.scalar(sa.select(sa.func.count()).select_from(O).where(O.customer_id == eid))
            self.eq("orders deleted with their customer", left, 0)

    def step_replica_reads(self, r):
        """ORM objects loaded through the reader engine: with splitting on a
        replica, which shows what the writing engine committed."""
        C = self.Customer
        expected = [self.email(r, k) for k in range(CUSTOMERS_PER_ROUND)]

        def read():
            with orm.Session(self.reader) as s:
                where = s.execute(sa.text(WHERE_QUERY)).one()
                customers = s.scalars(self.mine(r).options(orm.selectinload(C.orders))).all()
                return ([c.email for c in customers], sum(len(c.orders) for c in customers), where[0])
        self.eq_read("customers and orders loaded through the reader engine", read,
                     (expected, CUSTOMERS_PER_ROUND * ORDERS_PER_CUSTOMER + BULK_ORDERS, self.cfg.split))


def main():
    cfg = parse_args(DRIVER, __doc__.split("\n\n")[0])
    checks = Checks(DRIVER)
    start_watchdog(checks, cfg.timeout)
    models = make_models(cfg.run_id)
    metadata, Customer, Order, audit = models

    def connector(app):
        return lambda: psycopg2.connect(cfg.dsn, application_name=app)
    # One pool shared by every thread, smaller than the number of threads,
    # so that they also wait for connections.
    engine = sa.create_engine("postgresql+psycopg2://", creator=connector(f"{DRIVER}-rw"), future=True,
                              pool_size=max(2, cfg.clients // 2), max_overflow=0, pool_timeout=60)
    reader = sa.create_engine("postgresql+psycopg2://", creator=connector(f"{DRIVER}-ro"), future=True,
                              pool_size=max(2, cfg.clients // 2), max_overflow=0, pool_timeout=60,
                              isolation_level="AUTOCOMMIT")
    main = Main(cfg, checks, step="create_all")
    try:
        metadata.create_all(engine)
    except Exception as e:
        checks.exception("main", "create_all", e)
        return checks.report()
    try:
        if cfg.split:
            # The replicas replay the schema a moment after the primary made
            # it, and the reader engine's reads go to each in turn.
            main.step = "schema on the replicas"
            probe = sa.text("select " + ", ".join(f"to_regclass('{t.name}') is not null" for t in metadata.sorted_tables))
            with reader.connect() as c:
                main.eq_read("tables replayed by the replicas",
                             lambda: all(all(c.execute(probe).one()) for _ in range(4)), True)
        clients = [Client(cfg, checks, i, engine, reader, models) for i in range(cfg.clients)]
        threads = [threading.Thread(target=c.run, name=f"client-{c.w}") for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        main.step = "totals"
        with reader.connect() as c:
            def totals():
                return [tuple(x) for x in c.execute(sa.text(
                    f"select pg_is_in_recovery(), worker, count(*) from {Customer.__tablename__} "
                    "group by worker order by worker")).all()]
            main.eq_read("customers per client, read through the reader engine", totals,
                         main.totals_expected(CUSTOMERS_PER_ROUND * cfg.rounds))
        if cfg.split:
            checks.note(f"reads outside transactions ran on the replicas on ports {replica_ports_seen()}")
    except Exception as e:
        checks.exception("main", "totals", e)
    finally:
        try:
            metadata.drop_all(engine)
        except Exception as e:
            checks.exception("main", "drop_all", e)
        engine.dispose()
        reader.dispose()
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
