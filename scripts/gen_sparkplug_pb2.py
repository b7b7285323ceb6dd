"""Regenerate src/mixflow/connect/sparkplug/sparkplug_b_pb2.py (and its .pyi) from the Sparkplug B .proto.

The generated module is committed because CI's clean clone has no ../shared. It is generated with protoc
as grpcio-tools ships it (a wheel: no compiler to install), pinned to a version whose gencode asks for a
protobuf runtime this project can have (ortools holds protobuf below 6.34; grpcio-tools 1.76.0 bundles
libprotoc 31.1, whose gencode needs protobuf >= 6.31.1, < 7). Hand-building the descriptor with
`descriptor_pb2` would avoid the tool but repeat the schema by hand, which is what the file is for.
The .proto's sha256 is checked against the one recorded in shared/standards/sparkplug/SOURCES.md.

    python3 -m venv /tmp/protoc && /tmp/protoc/bin/pip install grpcio-tools==1.76.0
    /tmp/protoc/bin/python scripts/gen_sparkplug_pb2.py [--proto PATH/TO/sparkplug_b.proto]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT.parent / "shared" / "standards" / "sparkplug" / "sparkplug_b.proto"
TARGET = ROOT / "src" / "mixflow" / "connect" / "sparkplug"
SHA256 = "4432c5c483b7fb9732d0594c98a2e97dca5e517e39c5374a8b918d837f0b4a19"
GRPCIO_TOOLS = "1.76.0"
HEADER = """\
# Generated from shared/standards/sparkplug/sparkplug_b.proto, the Sparkplug 3.0.0 payload schema
# (Eclipse Tahu v1.0.11, commit 3b47fd7d, EPL-2.0; sha256 {sha}),
# by scripts/gen_sparkplug_pb2.py with grpcio-tools {tools} ({protoc}). Do not edit: run the script again.
# ruff: noqa
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proto", type=Path, default=PROTO)
    args = parser.parse_args()
    try:
        from importlib.metadata import version

        from grpc_tools import protoc  # noqa: F401
    except ImportError:
        sys.exit(f"error: grpcio-tools is not installed (pip install grpcio-tools=={GRPCIO_TOOLS})")
    if version("grpcio-tools") != GRPCIO_TOOLS:
        sys.exit(f"error: grpcio-tools {version('grpcio-tools')} found, {GRPCIO_TOOLS} wanted (see above)")
    raw = args.proto.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        sys.exit(f"error: {args.proto}: sha256 {digest} is not the recorded {SHA256}")
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(args.proto, Path(folder) / "sparkplug_b.proto")
        run = [sys.executable, "-m", "grpc_tools.protoc", f"-I{folder}"]
        protoc_version = subprocess.run([*run, "--version"], check=True, capture_output=True, text=True)
        outputs = [f"--python_out={folder}", f"--pyi_out={folder}", "sparkplug_b.proto"]
        subprocess.run([*run, *outputs], check=True, cwd=folder)
        header = HEADER.format(sha=digest, tools=GRPCIO_TOOLS, protoc=protoc_version.stdout.strip())
        for suffix in (".py", ".pyi"):
            generated = (Path(folder) / f"sparkplug_b_pb2{suffix}").read_text()
            (TARGET / f"sparkplug_b_pb2{suffix}").write_text(header + generated)
    print(f"wrote {TARGET}/sparkplug_b_pb2.py and .pyi")


if __name__ == "__main__":
    main()
