"""The least CPU a SQL statement costs in-process through the stack the app is built on.

    .venv/bin/python bench/statement_floor.py --db sqlite --db postgresql

Issue 20 asks for an online gift applied on its own in at most 8 statements and 1.5 ms of CPU.
This measures the floor under that: the smallest statements there are (`SELECT 1`, and a
one-row INSERT of two narrow columns), repeated, through the driver alone (sqlite3, psycopg 3),
through SQLAlchemy Core on a Connection, and through an ORM Session as the app's code runs them;
then a whole transaction of 8 such INSERTs (begin, 8 statements, commit) through a Session, and
through one Connection kept open (the least there is: no pool checkout, no Session). CPU is
time.process_time of this process only (PostgreSQL's server process is not counted), median of
the rounds. Nothing of the app is imported: this is the stack's cost, not the app's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import fresh_database, machine
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session

metadata = MetaData()
rows = Table("floor_rows", metadata, Column("id", Integer, primary_key=True), Column("amount", Integer),
             Column("note", Text))


def cpu_ms_each(work, count: int, rounds: int) -> float:
    """Median over rounds of the CPU milliseconds one call of `work` takes, `count` calls a round."""
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for n in range(count):
            work(n)
        samples.append((time.process_time() - started) * 1000 / count)
    return statistics.median(samples)


def run(kind: str, url: str, count: int, rounds: int) -> list[tuple[str, float]]:
    engine = create_engine(url)
    metadata.create_all(engine)
    results = []

    raw = engine.raw_connection()  # the DBAPI connection: sqlite3 or psycopg, no SQLAlchemy
    cursor = raw.cursor()
    marker = "?" if kind == "sqlite" else "%s"
    results.append(("driver: SELECT 1", cpu_ms_each(lambda n: (cursor.execute("SELECT 1"), cursor.fetchall()), count, rounds)))
    results.append(("driver: one-row INSERT", cpu_ms_each(
        lambda n: cursor.execute(f"INSERT INTO floor_rows (amount, note) VALUES ({marker}, {marker})", (n, "x")),
        count, rounds)))
    raw.commit()
    raw.close()

    with engine.connect() as conn:
        results.append(("Core: SELECT 1", cpu_ms_each(lambda n: conn.execute(select(literal(1))).all(), count, rounds)))
        results.append(("Core: one-row INSERT", cpu_ms_each(
            lambda n: conn.execute(insert(rows), {"amount": n, "note": "x"}), count, rounds)))
        conn.commit()

    with Session(engine) as session:
        results.append(("Session: one-row INSERT", cpu_ms_each(
            lambda n: session.execute(insert(rows), {"amount": n, "note": "x"}), count, rounds)))
        session.commit()

    def transaction(n: int) -> None:
        with Session(engine) as session, session.begin():
            for i in range(8):
                session.execute(insert(rows), {"amount": n * 8 + i, "note": "x"})

    results.append(("Session: a transaction of 8 one-row INSERTs", cpu_ms_each(transaction, count // 8, rounds)))
    with engine.connect() as conn:
        def on_one_connection(n: int) -> None:
            with conn.begin():
                for i in range(8):
                    conn.execute(insert(rows), {"amount": n * 8 + i, "note": "x"})

        results.append(("Core, one open Connection: a transaction of 8 one-row INSERTs",
                        cpu_ms_each(on_one_connection, count // 8, rounds)))
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--count", type=int, default=2000, help="statements a round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print("| database | what | CPU ms each |")
    print("| --- | --- | --- |")
    for kind in args.db or ["sqlite", "postgresql"]:
        with tempfile.TemporaryDirectory() as tmp:
            url = fresh_database(kind, "bench_statement_floor", Path(tmp))
            for what, ms in run(kind, url, args.count, args.rounds):
                print(f"| {kind} | {what} | {ms:.3f} |", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
