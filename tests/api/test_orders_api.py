"""Orders: checked against the catalogue, stored before the answer, visible to their customer only."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from mixflow.model import DAY_S
from mixflow.store import order_book
from mixflow.store.accounts import Role


def test_an_order_is_stored_before_the_answer(client, add_user, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    alice = add_user("alice", Role.CUSTOMER)
    placed = client.post("/api/orders", json={"configuration": cheapest_truck}, headers=alice)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "placed" and order["customer"] == "alice"
    assert order["flow"][0] == "placed" and order["flow"][-1] == "delivered"
    # a fresh session (as after a restart) finds it with its history
    with client.app.state.sessions() as session:
        found = order_book.load(session, order["id"])
        rows = session.scalars(select(order_book.OrderRow)).all()
    assert found is not None and dict(found[0].configuration) == cheapest_truck
    assert found[1] == order["price"] and len(rows) == 1


def test_customers_see_only_their_own_orders(client, add_user, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    alice, bob = add_user("alice", Role.CUSTOMER), add_user("bob", Role.CUSTOMER)
    planner = add_user("pat", Role.PLANNER)
    order_id = client.post("/api/orders", json={"configuration": cheapest_truck}, headers=alice).json()["id"]
    assert [o["id"] for o in client.get("/api/orders", headers=alice).json()] == [order_id]
    assert client.get("/api/orders", headers=bob).json() == []
    assert client.get(f"/api/orders/{order_id}", headers=bob).status_code == 404
    assert client.post(f"/api/orders/{order_id}/cancel", headers=bob).status_code == 404
    assert client.get(f"/api/orders/{order_id}", headers=planner).status_code == 200
    assert client.post("/api/orders", json={"configuration": cheapest_truck}).status_code == 401


def test_impossible_or_incomplete_trucks_are_refused(client, add_user, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    alice = add_user("alice", Role.CUSTOMER)
    incomplete = dict(cheapest_truck)
    del incomplete["colour"]
    answer = client.post("/api/orders", json={"configuration": incomplete}, headers=alice)
    assert answer.status_code == 422 and "colour is not chosen" in answer.json()["detail"]
    tractor_mixer = cheapest_truck | {"drive": "4x2"}
    answer = client.post("/api/orders", json={"configuration": tractor_mixer}, headers=alice)
    assert answer.status_code == 422 and "cannot be built" in answer.json()["detail"]
    unknown = {"configuration": cheapest_truck | {"paint": "gold"}}
    answer = client.post("/api/orders", json=unknown, headers=alice)
    assert answer.status_code == 422 and "unknown variable 'paint'" in answer.json()["detail"]
    late = {"configuration": cheapest_truck, "requested_date": "2001-01-01T00:00:00Z"}
    past = client.post("/api/orders", json=late, headers=alice)
    assert past.status_code == 422


def test_cancel_records_the_step(client, add_user, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    alice = add_user("alice", Role.CUSTOMER)
    order_id = client.post("/api/orders", json={"configuration": cheapest_truck}, headers=alice).json()["id"]
    cancelled = client.post(f"/api/orders/{order_id}/cancel", headers=alice).json()
    assert cancelled["status"] == "cancelled"
    assert [s["status"] for s in client.get(f"/api/orders/{order_id}", headers=alice).json()["history"]] == [
        "placed", "cancelled",
    ]
    assert client.post(f"/api/orders/{order_id}/cancel", headers=alice).status_code == 409


def test_quote_says_when_no_promise_service_runs(client, add_user, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    alice = add_user("alice", Role.CUSTOMER)
    quote = client.post("/api/orders/quote", json={"configuration": cheapest_truck}, headers=alice).json()
    assert quote["available"] is False and "promise" in quote["detail"]


def test_orders_come_in_pages_by_cursor(client, add_user, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    alice, bob = add_user("alice", Role.CUSTOMER), add_user("bob", Role.CUSTOMER)
    planner = add_user("pat", Role.PLANNER)
    mine = [client.post("/api/orders", json={"configuration": cheapest_truck}, headers=alice).json()["id"]
            for _ in range(5)]
    bobs = client.post("/api/orders", json={"configuration": cheapest_truck}, headers=bob).json()["id"]
    everything = [o["id"] for o in client.get("/api/orders", headers=alice).json()]
    assert sorted(everything) == sorted(mine)
    pages, before = [], None
    while True:
        query = {"limit": 2} if before is None else {"limit": 2, "before": before}
        page = [o["id"] for o in client.get("/api/orders", params=query, headers=alice).json()]
        if not page:
            break
        pages.append(page)
        before = page[-1]
    assert [len(p) for p in pages] == [2, 2, 1] and [i for p in pages for i in p] == everything
    # a cursor must be an order the caller may see; the page size is bounded
    assert client.get("/api/orders", params={"before": bobs}, headers=alice).status_code == 404
    assert client.get("/api/orders", params={"before": "nope"}, headers=alice).status_code == 404
    assert client.get("/api/orders", params={"limit": 0}, headers=alice).status_code == 422
    assert client.get("/api/orders", params={"limit": 1001}, headers=alice).status_code == 422
    staff_view = [o["id"] for o in client.get("/api/orders", headers=planner).json()]
    after_bob = [o["id"] for o in client.get("/api/orders", params={"before": bobs}, headers=planner).json()]
    assert len(staff_view) == 6 and after_bob == staff_view[staff_view.index(bobs) + 1:]


class _StubPlant:
    """A live plant that can deliver a day after now at the earliest and books what it quotes."""

    def __init__(self, clock) -> None:  # type: ignore[no-untyped-def]
        self.clock = clock

    def quote(self, order):  # type: ignore[no-untyped-def]
        return max(order.placed_s + DAY_S, order.requested_s), "line slot 7"

    def place(self, order):  # type: ignore[no-untyped-def]
        promised, _ = self.quote(order)
        return order.promised(promised, order.placed_s)


def test_a_quote_names_the_earliest_date_and_honours_the_request(client, add_user, cheapest_truck) -> None:  # type: ignore[no-untyped-def]
    alice = add_user("alice", Role.CUSTOMER)
    client.app.state.live = _StubPlant(client.app.state.clock)
    default = client.post("/api/orders/quote", json={"configuration": cheapest_truck}, headers=alice).json()
    assert default["available"] and default["quoted_at"]
    earliest, quoted_at = datetime.fromisoformat(default["earliest_date"]), datetime.fromisoformat(
        default["quoted_at"])
    assert earliest - quoted_at == timedelta(days=1)
    assert default["promised_date"] == default["requested_date"]  # 5 days by default: later than the earliest
    wanted = (quoted_at + timedelta(days=3)).isoformat()
    asked = client.post("/api/orders/quote", json={"configuration": cheapest_truck, "requested_date": wanted},
                        headers=alice).json()
    assert datetime.fromisoformat(asked["promised_date"]) == datetime.fromisoformat(wanted)
    assert datetime.fromisoformat(asked["earliest_date"]) >= earliest
    # placed with the quoted request, the booked promise is the quoted one
    placed = client.post("/api/orders", json={"configuration": cheapest_truck, "requested_date": wanted},
                         headers=alice).json()
    assert datetime.fromisoformat(placed["promised_date"]) == datetime.fromisoformat(wanted)
    step = placed["history"][-1]
    assert step["status"] == "promised" and step["promised_date"] == placed["promised_date"]
    assert step["note"] == f"promised for {datetime.fromisoformat(placed['promised_date']).isoformat()}"
