"""Read-only views of the cloud scheduler's plan: line sequence, shop Gantt, material tasks and KPIs."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, status

from mixflow.api.deps import StaffDep
from mixflow.api.schemas import ErrorOut

router = APIRouter(prefix="/api/plan", tags=["plan"])

View = Literal["sequence", "gantt", "tasks", "kpis"]


@router.get("/{view}", responses={503: {"model": ErrorOut}})
def plan_view(view: View, request: Request, _user: StaffDep) -> dict[str, Any]:
    """`sequence`: the line's slots with model, colour and ratio violations; `gantt`: operations per
    machine group; `tasks`: material tasks and their AGVs; `kpis`: OEE, order-to-delivery, output vs.
    demand, energy."""
    live = request.app.state.live
    if live is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no live plan: start `mixflow serve --twin` to run the cloud scheduler")
    return live.plan_view(view)
