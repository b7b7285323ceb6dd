"""The web API of mixflow (FastAPI): configurator, orders, plan views, live plant state, accounts.

`create_app(settings)` builds the app; routers live one per resource (`auth`, `configurator`,
`orders`, `plant`, `plan`), pydantic models in `schemas`. `mixflow serve` runs it under uvicorn.
"""

from mixflow.api.app import create_app
from mixflow.api.settings import Settings

__all__ = ["Settings", "create_app"]
