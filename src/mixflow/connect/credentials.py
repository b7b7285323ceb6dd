"""Secrets on disk: files only their owner can read, written so that no umask or race can widen them.

The broker's password file and ACL, the credentials file that carries new device passwords to the
installers, and any `--password-file` are all mode 0600: written through a fresh temporary file
created 0600 (then chmod'ed, in case the file system ignores the mode) and renamed over the target,
and refused on read when group or others may read them.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from mixflow.errors import InputFileError, ValidationError

PRIVATE = 0o600


def write_private(path: Path | str, text: str) -> None:
    """Replace `path` with `text`, mode 0600 from the first byte on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: 0600
    try:
        os.fchmod(handle, PRIVATE)
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(scratch, path)
        os.chmod(path, PRIVATE)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def check_private(path: Path | str, option: str) -> None:
    """Refuse a secret file that anyone but its owner may read or write."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as error:
        raise InputFileError(str(path), f"cannot read ({error.strerror})") from None
    if mode & 0o077:
        raise ValidationError(
            option, f"{path} is mode {mode:04o}: a secret file must be readable by its owner only (chmod 600)"
        )


def read_secret_file(path: Path | str, option: str) -> str:
    """The secret in a 0600 file (its first line, without the line break)."""
    check_private(path, option)
    lines = Path(path).read_text().splitlines()
    if not lines or not lines[0]:
        raise InputFileError(str(path), "empty: expected the secret on the first line")
    return lines[0]

