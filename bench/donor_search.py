"""Time the staff donor search at 10,000 donors: partial names, near misses, email fragments.

    .venv/bin/python bench/donor_search.py [--donors 10000] [--db sqlite] [--db postgresql]

Fills a fresh database with donors (first and last names drawn from 40 x 40 common names, most
with an email), then times `donors.find` (the staff list, the gift form's lookup and search.json
all use it) for each query, and, in the same run, the plain substring query the search replaced,
so the ratio holds whatever the machine's load. Prints Markdown table rows with the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, machine

FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
         "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
         "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
         "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
        "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores"]
QUERIES = [("partial name", "smi"), ("two words", "john smith"), ("near miss", "Jonh Smtih"),
           ("near miss, one word", "Wiliams"), ("email fragment", "example.net"), ("no match", "zzqx")]


def fill(session, count: int) -> None:
    from fundraiser.models import Donor

    rng = random.Random(7)
    # Every surname also gets a suffix now and then so the names are not all alike.
    rows = []
    for i in range(count):
        last = rng.choice(LAST) + (rng.choice(["", "", "", "son", "-Hill", "er"]))
        rows.append({"name": f"{rng.choice(FIRST)} {last}", "kind": "person",
                     "email": f"donor{i}@example.{'org' if i % 3 else 'net'}" if i % 10 else None,
                     "anonymous_by_default": False, "do_not_contact": False, "notes": "", "is_sample": False})
    session.execute(Donor.__table__.insert(), rows)
    session.commit()


def substring_only(session, query: str) -> list[int]:
    """The search before this change: every word a substring of the name or the email."""
    from sqlalchemy import func, or_, select

    from fundraiser.models import Donor

    where = [Donor.merged_into_id.is_(None)]
    for word in query.lower().split()[:5]:
        where.append(or_(func.lower(Donor.name).contains(word, autoescape=True),
                         func.lower(Donor.email).contains(word, autoescape=True)))
    return list(session.scalars(select(Donor.id).where(*where).order_by(Donor.name, Donor.id).limit(50)))


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run(kind: str, count: int, repeat: int) -> list[str]:
    from sqlalchemy.orm import Session

    from fundraiser import donors
    from fundraiser.db import make_engine
    from fundraiser.schema import upgrade

    url = fresh_database(kind, "bench_donor_search", Path(tempfile.gettempdir()))
    engine = make_engine(url)
    upgrade(engine)
    lines = []
    with Session(engine) as session:
        fill(session, count)
        for label, query in QUERIES:
            load = os.getloadavg()[0]
            new = timed(lambda q=query: donors.find(session, q, limit=50), repeat)
            old = timed(lambda q=query: substring_only(session, q), repeat)
            found = len(donors.matching_ids(session, query))
            lines.append(f"| {kind} | {count:,} | {label} (“{query}”) | {found} | {new:.1f} ms | {old:.1f} ms "
                         f"| {new / old:.1f}× | {load:.1f} |")
    engine.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--donors", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print("| database | donors | query | matches | donors.find (median) | substring only (median) | ratio | load average |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.db or ["sqlite"]:
        for line in run(kind, args.donors, args.repeat):
            print(line, flush=True)


if __name__ == "__main__":
    main()
