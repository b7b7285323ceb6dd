"""Start the live plant `mixflow serve` shows: the reference plant in the twin under the cloud scheduler."""

from __future__ import annotations

import logging

from mixflow.api.live import LivePlant
from mixflow.api.settings import Settings
from mixflow.errors import ValidationError

log = logging.getLogger("mixflow.api")


def start_live_plant(settings: Settings) -> LivePlant | None:
    """The running plant for `settings` in its own process, or None when no plant source is asked for."""
    if settings.mqtt_url is None and not settings.twin:
        return None
    if settings.mqtt_url is not None and settings.twin:
        raise ValidationError("--mqtt", "a plant is either real (--mqtt) or the twin (--twin), not both")
    from mixflow.api.plant_process import PlantProcess

    return PlantProcess.start(settings)


def start_in_process(settings: Settings) -> LivePlant | None:
    """The running plant for `settings` in this process (the plant process calls this)."""
    if settings.mqtt_url is not None and not settings.twin:
        from mixflow.api.broker_plant import BrokerPlant
        from mixflow.connect.broker import broker_errors

        with broker_errors(settings.broker()):  # a refused login: one line, not a trace
            return BrokerPlant.start(settings)
    if settings.mqtt_url is not None:
        raise ValidationError("--mqtt", "a plant is either real (--mqtt) or the twin (--twin), not both")
    if not settings.twin:
        return None
    try:
        from mixflow.api.twin_plant import TwinPlant
    except ImportError as missing:
        raise ValidationError("--twin", f"the digital twin is not available ({missing})") from missing
    return TwinPlant.start(settings)
