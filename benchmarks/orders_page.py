"""The order list at plant scale: a page of the newest orders from a book of years of orders; prints JSON.

    .venv/bin/python benchmarks/orders_page.py [--orders 200000] [--url postgresql://postgres@127.0.0.1:5432/test]

Fills a scratch schema-migrated database (PostgreSQL by default, the server this machine runs; a
`sqlite:///` URL works too) with `--orders` orders of 500 customers (220 a day, the reference plant's
rate: 200,000 is two and a half years), then times the first page of 50 and the next page by cursor
(`order_book.list_orders`, what `GET /api/orders` serves to staff), with the (placed_s, id) index of
migration web_0002 and, as the baseline in the same run, with it dropped (the book sorted per page).
The orders it wrote are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from sqlalchemy import delete, insert, text
from sqlalchemy.orm import Session, sessionmaker

from mixflow.store import connect, order_book

PAGE = 50
REPEAT = 20
PREFIX = "BENCH-"


def _fill(sessions: sessionmaker[Session], n: int) -> None:
    now = datetime.now(UTC)
    with sessions() as s:
        for first in range(0, n, 20_000):
            ids = range(first, min(first + 20_000, n))
            s.execute(insert(order_book.OrderRow), [
                {"id": f"{PREFIX}{k:07d}", "customer": f"bench-{k % 500}", "price": 100_000.0,
                 "configuration": '{"family": "mixer"}', "placed_s": k * 393,
                 "requested_s": k * 393 + 432_000, "promised_s": None, "priority": 0, "created_at": now}
                for k in ids])
            s.execute(insert(order_book.OrderStatusRow), [
                {"order_id": f"{PREFIX}{k:07d}", "seq": 0, "status": "placed", "at_s": k * 393, "note": ""}
                for k in ids])
        s.commit()
        s.execute(text("ANALYZE"))  # fresh statistics, as a database that grew slowly has
        s.commit()


def _time(sessions: sessionmaker[Session]) -> dict[str, float]:
    with sessions() as s:
        page = order_book.list_orders(s, None, PAGE)  # warm the caches
        began = time.perf_counter()
        for _ in range(REPEAT):
            page = order_book.list_orders(s, None, PAGE)
        first = (time.perf_counter() - began) / REPEAT
        began = time.perf_counter()
        for _ in range(REPEAT):
            order_book.list_orders(s, None, PAGE, before=page[-1][0].id)
        after = (time.perf_counter() - began) / REPEAT
    return {"first_page_ms": round(first * 1000, 2), "next_page_ms": round(after * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    engine, sessions = connect(args.url)
    try:
        _fill(sessions, args.orders)
        indexed = _time(sessions)
        with engine.begin() as c:
            c.execute(text("DROP INDEX ix_web_orders_placed_id"))
        sorted_ = _time(sessions)
    finally:
        with engine.begin() as c:
            c.execute(text("CREATE INDEX IF NOT EXISTS ix_web_orders_placed_id ON web_orders (placed_s, id)"))
        with sessions() as s:
            status, row = order_book.OrderStatusRow, order_book.OrderRow
            s.execute(delete(status).where(status.order_id.like(f"{PREFIX}%")))
            s.execute(delete(row).where(row.id.like(f"{PREFIX}%")))
            s.commit()
    speedup = round(sorted_["first_page_ms"] / indexed["first_page_ms"], 1)
    print(json.dumps({"database": engine.dialect.name, "orders": args.orders, "page": PAGE,
                      "indexed": indexed, "baseline_without_index": sorted_, "speedup_first_page": speedup},
                     indent=1))


if __name__ == "__main__":
    main()
