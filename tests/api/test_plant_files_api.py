"""POST /api/plants/validate: a plant file checked over the API, a bad one refused with the CLI's line."""

from __future__ import annotations

from pathlib import Path

from mixflow.model.plant_file import write_plant
from mixflow.reference import build_plant
from mixflow.store.accounts import Role


def test_a_plant_file_is_checked_and_a_bad_one_is_a_422(client, add_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "plant.yaml"
    write_plant(build_plant(0.1), path)
    text = path.read_text()
    assert client.post("/api/plants/validate", json={"plant": text}).status_code == 401
    customer = add_user("cust", Role.CUSTOMER)
    assert client.post("/api/plants/validate", json={"plant": text}, headers=customer).status_code == 403
    planner = add_user("plan", Role.PLANNER)
    answer = client.post("/api/plants/validate", json={"plant": text}, headers=planner)
    assert answer.status_code == 200, answer.text
    facts = answer.json()
    assert facts["machines"] == len(build_plant(0.1).machines) and facts["lines"][0]["takt_s"] == 2400
    broken = text.replace("groups: [frame_drill]", "groups: [frame_drilling]", 1)
    body = {"plant": broken, "name": "mine.yaml"}
    refused = client.post("/api/plants/validate", json=body, headers=planner)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail.startswith("mine.yaml:") and "unknown machine group 'frame_drilling'" in detail
    garbage = client.post("/api/plants/validate", json={"plant": "[unclosed"}, headers=planner)
    assert garbage.status_code == 422 and "not valid YAML" in garbage.json()["detail"]
    assert client.get("/api/plant/layout", headers=planner).status_code == 200  # the service goes on
