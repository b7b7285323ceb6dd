"""Read-only views of the cloud scheduler's plan: line sequence, shop Gantt (and its rolling window),
material tasks and KPIs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from mixflow.api.deps import StaffDep
from mixflow.api.planner_schemas import GanttWindow
from mixflow.api.schemas import ErrorOut, FleetTasks, Gantt, Kpis, LineSequence

router = APIRouter(prefix="/api/plan", tags=["plan"])
UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"model": ErrorOut}}


def _view(request: Request, kind: str) -> dict[str, Any]:
    live = request.app.state.live
    if live is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no live plan: start `mixflow serve --twin` to run the cloud scheduler")
    return live.plan_view(kind)


@router.get("/sequence", response_model=LineSequence, responses=UNAVAILABLE)
def sequence(request: Request, _user: StaffDep) -> dict[str, Any]:
    """The line sequence: each unit's model, paint colour and configuration, for the ratio and colour view."""
    return _view(request, "sequence")


@router.get("/gantt", response_model=Gantt, responses=UNAVAILABLE)
def gantt(request: Request, _user: StaffDep) -> dict[str, Any]:
    """The machine-group Gantt excerpt: operations per machine with start and end seconds."""
    return _view(request, "gantt")


@router.get("/gantt/window", response_model=GanttWindow, responses=UNAVAILABLE)
def gantt_window(request: Request, _user: StaffDep,
                 back_h: Annotated[float, Query(ge=0.0, le=48.0)] = 8.0,
                 ahead_h: Annotated[float, Query(ge=0.0, le=48.0)] = 2.0) -> dict[str, Any]:
    """The live Gantt: every machine's operations of the last `back_h` hours up to now (running ones end
    now) and the line slots of the window to `ahead_h` hours ahead, orders at risk marked; the window
    rolls with the plant (two days of finished operations are kept)."""
    live = request.app.state.live
    if live is None:
        _view(request, "gantt")
    return live.gantt(int(back_h * 3600), int(ahead_h * 3600))


@router.get("/tasks", response_model=FleetTasks, responses=UNAVAILABLE)
def tasks(request: Request, _user: StaffDep) -> dict[str, Any]:
    """The AGV fleet by state, and the material tasks waiting for an AGV."""
    return _view(request, "tasks")


@router.get("/kpis", response_model=Kpis, responses=UNAVAILABLE)
def kpis(request: Request, _user: StaffDep) -> dict[str, Any]:
    """OEE, order-to-delivery, output vs. demand, energy, line stops, promises kept."""
    return _view(request, "kpis")
