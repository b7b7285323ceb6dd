"""Provisioning a plant: register its devices with random credentials and write the broker's files.

The order of the writes is chosen so that a failure half-way loses nothing: the new passwords go to
the credentials file first (the only place they exist in clear), then the hashes to the database,
then the broker's password file and ACL, which are rebuilt from the database on the next run.
Re-provisioning keeps every known device's credential (unless `rotate`) and issues new devices theirs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from mixflow.connect.credentials import write_private
from mixflow.connect.mosquitto import BrokerConf, merge_acl, merge_passwd, read_passwd, write_conf
from mixflow.connect.registry import (
    Registry,
    broker_username,
    gateway_username,
    hash_password,
    issue_credentials,
    new_password,
)
from mixflow.errors import InputFileError, ValidationError

GATEWAY_PASSWORD_ENV = "MIXFLOW_GATEWAY_PASSWORD"
CREDENTIALS_FORMAT = "mixflow-credentials-v1"


@dataclass(frozen=True)
class ProvisionFiles:
    """The files provisioning writes (all 0600); `broker_conf` is optional."""

    passwd_file: Path
    acl_file: Path
    credentials_file: Path
    broker_conf: BrokerConf | None = None


def _read_credentials(path: Path, plant: str) -> dict[str, Any]:
    """An earlier credentials file of the same plant (its undistributed passwords stay in it)."""
    empty: dict[str, Any] = {"format": CREDENTIALS_FORMAT, "plant": plant, "gateway": None, "devices": {}}
    if not path.exists():
        return empty
    try:
        earlier = json.loads(path.read_text())
    except ValueError as error:
        raise InputFileError(str(path), f"not a credentials file ({error})") from None
    if not isinstance(earlier, dict) or earlier.get("format") != CREDENTIALS_FORMAT:
        raise InputFileError(str(path), f"not a {CREDENTIALS_FORMAT} file")
    if earlier.get("plant") != plant:
        raise ValidationError(
            "--credentials", f"{path} holds plant {earlier.get('plant')!r}, not {plant!r}: one file per plant"
        )
    return {**empty, **earlier}


def _gateway_hash(files: ProvisionFiles, plant: str, rotate: bool) -> tuple[str, str | None, str]:
    """The gateway account's hash, the password to hand out (None: not new or the operator's own),
    and where it came from."""
    from_env = os.environ.get(GATEWAY_PASSWORD_ENV)
    if from_env:
        if len(from_env) < 12:
            raise ValidationError(GATEWAY_PASSWORD_ENV, "at least 12 characters")
        return hash_password(from_env), None, GATEWAY_PASSWORD_ENV
    known = read_passwd(files.passwd_file).get(gateway_username(plant))
    if known is not None and not rotate:
        return known, None, "kept"
    password = new_password()
    return hash_password(password), password, "issued"


def provision(
    engine: Engine,
    plant: str,
    devices: Iterable[tuple[str, str]],
    files: ProvisionFiles,
    rotate: bool = False,
) -> dict[str, Any]:
    """Register `devices` (id, kind) of `plant` and write the broker's files; returns what was done."""
    devices = list(devices)
    gateway_user = gateway_username(plant)
    for device_id, _ in devices:
        broker_username(plant, device_id)  # refuse an id the broker cannot take before writing anything
    registry = Registry.load(engine, plant)
    known = len(registry)
    issued = issue_credentials(registry, devices, rotate)
    gateway_hash, gateway_password, gateway_source = _gateway_hash(files, plant, rotate)

    credentials = _read_credentials(files.credentials_file, plant)
    for device_id, password in issued.items():
        credentials["devices"][device_id] = {
            "kind": registry.get(device_id).kind,
            "username": broker_username(plant, device_id),
            "password": password,
        }
    if gateway_password is not None:
        credentials["gateway"] = {"username": gateway_user, "password": gateway_password}
    elif gateway_source == GATEWAY_PASSWORD_ENV:
        credentials["gateway"] = None  # the operator holds it
    if issued or gateway_password is not None or not files.credentials_file.exists():
        write_private(files.credentials_file, json.dumps(credentials, indent=1) + "\n")

    registry.save(engine)
    passwd = merge_passwd(files.passwd_file, registry, gateway_hash)
    acl = merge_acl(files.acl_file, registry)
    facts: dict[str, Any] = {
        "plant": plant,
        "devices": len(registry),
        "new_credentials": len(issued),
        "kept_credentials": len(registry) - len(issued),
        "previously_registered": known,
        "gateway_user": gateway_user,
        "gateway_password": gateway_source,
        "passwd_file": {"file": str(files.passwd_file), "mode": "0600", **passwd},
        "acl_file": {"file": str(files.acl_file), "mode": "0600", **acl},
        "credentials_file": {
            "file": str(files.credentials_file),
            "mode": "0600",
            "passwords": len(credentials["devices"]) + (credentials["gateway"] is not None),
        },
    }
    if files.broker_conf is not None:
        facts["broker_conf"] = write_conf(files.broker_conf, ((d.device_id, d.kind) for d in registry))
    return facts
