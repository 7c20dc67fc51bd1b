"""Regenerate the Python gRPC stubs from `proto/*.proto`.

    python -m emrlab_common.protogen          # rewrite emrlab_common/protos/
    python -m emrlab_common.protogen --check  # exit 1 if the committed stubs are stale

The `.proto` files are the source of truth; the stubs are committed so that an
install needs no compiler, and a test runs `--check` so they never drift.
Protos import each other as "emrlab_common/protos/<name>.proto", which makes
the generated modules import each other as `emrlab_common.protos.<name>_pb2`.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = PROJECT_ROOT / "proto"
PACKAGE_PATH = "emrlab_common/protos"
STUB_DIR = PROJECT_ROOT / PACKAGE_PATH
PACKAGE_DOCSTRING = '"""Generated from proto/ by `python -m emrlab_common.protogen`; do not edit."""\n'


def generate(output_root: Path) -> list[Path]:
    """Write the stubs under `output_root`/emrlab_common/protos; return their paths."""
    from grpc_tools import protoc  # a test and build dependency only

    proto_files = sorted(PROTO_DIR.glob("*.proto"))
    arguments = [
        "protoc",
        f"--proto_path={PACKAGE_PATH}={PROTO_DIR}",
        f"--python_out={output_root}",
        f"--grpc_python_out={output_root}",
        *(f"{PACKAGE_PATH}/{path.name}" for path in proto_files),
    ]
    (output_root / PACKAGE_PATH).mkdir(parents=True, exist_ok=True)
    if protoc.main(arguments) != 0:
        raise SystemExit("protoc failed")
    (output_root / PACKAGE_PATH / "__init__.py").write_text(PACKAGE_DOCSTRING)
    return sorted((output_root / PACKAGE_PATH).glob("*.py"))


def stale_files() -> list[str]:
    """Names of stubs that differ from what the protos generate now."""
    with tempfile.TemporaryDirectory() as temporary:
        fresh = {path.name: path for path in generate(Path(temporary))}
        committed = {path.name: path for path in STUB_DIR.glob("*.py")}
        names = sorted(set(fresh) | set(committed))
        return [
            name for name in names
            if name not in fresh or name not in committed or not filecmp.cmp(fresh[name], committed[name], shallow=False)
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emrlab_common.protogen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale stubs")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: {PACKAGE_PATH}/{name}")
        return 1 if stale else 0
    for path in STUB_DIR.glob("*_pb2*.py"):
        path.unlink()
    written = generate(PROJECT_ROOT)
    print(f"wrote {len(written)} files to {PACKAGE_PATH}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
