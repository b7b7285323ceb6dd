"""The plant: the static floor layout, live state (AGVs, machines, line, alarms), the time control and
a websocket streaming the state a few times a second."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect, status

from mixflow.api.clock import to_datetime
from mixflow.api.deps import STAFF, StaffDep, admitted_here, recheck, websocket_user
from mixflow.api.schemas import (
    ErrorOut,
    Layout,
    LineOut,
    MachineGroupOut,
    PlantState,
    StationOut,
    TimeControl,
)
from mixflow.api.security import TokenClaims
from mixflow.model import Plant

router = APIRouter(prefix="/api/plant", tags=["plant"])

STREAM_HZ = 5.0
RECHECK_S = 1.0  # how often an open stream re-reads its account


def _rle(row: np.ndarray) -> list[int]:
    """Run lengths of one boolean row, starting with a (possibly empty) free run."""
    changes = np.flatnonzero(np.diff(row.astype(np.int8))) + 1
    bounds = np.concatenate(([0], changes, [row.size]))
    runs = np.diff(bounds).tolist()
    return runs if not row[0] else [0, *runs]


def build_layout(plant: Plant) -> Layout:
    """The floor as the pages draw it (computed once per plant)."""
    floor = plant.floor
    groups = plant.machine_groups
    group_index = {g.id: i for i, g in enumerate(groups)}
    machines = plant.machines
    return Layout(
        name=plant.name,
        width=floor.width,
        height=floor.height,
        cell_m=floor.cell_m,
        blocked_rle=[_rle(floor.blocked[y]) for y in range(floor.height)],
        machine_ids=[m.id for m in machines],
        machine_xy=[c for m in machines for c in m.cell],
        machine_group=[group_index[m.group] for m in machines],
        groups=[MachineGroupOut(id=g.id, shop=g.shop, operation=g.operation, machines=len(g.machines))
                for g in groups],
        stations=[StationOut(id=s.id, index=s.index, x=s.drop_cell[0], y=s.drop_cell[1], line=line.id)
                  for line in plant.lines for s in line.stations],
        chargers=[c for cell in floor.chargers for c in cell],
        agv_ids=list(plant.fleet.agv_ids),
        zones={k: list(v) for k, v in floor.zones.items()},
        takt_s=plant.lines[0].takt_s,
        lines=[LineOut(id=line.id, name=line.name or line.id, takt_s=line.takt_s, stations=len(line.stations))
               for line in plant.lines],
    )


def _live(request: Request) -> Any:
    live = request.app.state.live
    if live is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no live plant: start `mixflow serve --twin` to stream plant state")
    return live


@router.get("/layout", response_model=Layout)
def layout(request: Request, _user: StaffDep) -> Layout:
    """The static floor map: grid, machines by group, line stations, chargers, AGV ids."""
    return request.app.state.layout


def _state(request_app: Any) -> PlantState:
    live = request_app.state.live
    snap = live.snapshot()
    return PlantState(at=to_datetime(request_app.state.clock, snap["at_s"]), **snap)


@router.get("/state", response_model=PlantState, responses={503: {"model": ErrorOut}})
def state(request: Request, _user: StaffDep) -> PlantState:
    """One snapshot of the live plant."""
    _live(request)
    return _state(request.app)


@router.post("/time", response_model=TimeControl, responses={503: {"model": ErrorOut}})
def time_control(body: TimeControl, request: Request, _user: StaffDep) -> TimeControl:
    """Set how fast the twin runs (simulated seconds per wall second; 0 pauses)."""
    return TimeControl(speed=_live(request).set_speed(body.speed))


async def _admitted(websocket: WebSocket, claims: TokenClaims | None) -> bool:
    """Whether `claims` (as the account stands) may watch the stream; if not, the socket is closed with
    4401 (not logged in, or the account is disabled) or 4403 (not a staff role, or staff of other
    plants of the cloud)."""
    if claims is not None and claims.role in STAFF:
        if await asyncio.to_thread(admitted_here, websocket.app, claims):
            return True
        await websocket.close(code=4403, reason=f"not staff of plant {websocket.app.state.plant_scope}")
        return False
    await websocket.close(code=4401 if claims is None else 4403,
                          reason="log in first" if claims is None else "needs a staff role")
    return False


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    """Plant state as JSON text frames, STREAM_HZ times a second; authenticate with `?token=` or the
    session cookie. The socket is accepted first, so that a refusal reaches the page as a close code:
    4401 not logged in, 4403 not allowed. The account is read again every RECHECK_S: once it is disabled
    (4401) or no longer staff (4403), the stream closes."""
    await websocket.accept()
    claims = await asyncio.to_thread(websocket_user, websocket)
    if not await _admitted(websocket, claims):
        return
    if websocket.app.state.live is None:
        await websocket.close(code=4503, reason="no live plant")
        return
    checked = time.monotonic()
    try:
        while True:
            if time.monotonic() - checked >= RECHECK_S:  # the account may have been disabled or demoted
                claims = await asyncio.to_thread(recheck, websocket.app, claims)
                if not await _admitted(websocket, claims):
                    return
                checked = time.monotonic()
            snap = await asyncio.to_thread(_state, websocket.app)
            await websocket.send_text(snap.model_dump_json())
            await asyncio.sleep(1.0 / STREAM_HZ)
    except (WebSocketDisconnect, RuntimeError):
        with contextlib.suppress(RuntimeError):
            await websocket.close()
