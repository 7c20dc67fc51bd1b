"""Is the top-level `hdfs` package emrlab's? HdfsCLI (PyPI's `hdfs`) has the same import name.

Installed into one environment, one package shadows the other, and emrlab
would fail deep inside with an AttributeError. `emrlab` checks at start and
says in one line what happened and what to do instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ADVICE = ("install HdfsCLI in its own virtual environment (python -m venv ~/hdfscli && ~/hdfscli/bin/pip install hdfs;"
          " ~/hdfscli/bin/hdfscli) and reinstall emrlab here (pip uninstall -y hdfs && pip install -e .)")


def hdfs_shadowed() -> str | None:
    """None if `import hdfs` finds emrlab's HDFS, else a one-line explanation."""
    spec = importlib.util.find_spec("hdfs")
    if spec is None or spec.origin is None:
        return f"emrlab's `hdfs` package is not importable in this environment: {ADVICE}"
    package = Path(spec.origin).parent
    ours = (package / "namenode").is_dir() and "InsecureClient" not in Path(spec.origin).read_text(errors="replace")
    if ours:
        return None
    return (f"the `hdfs` package here ({package}) is HdfsCLI's, not emrlab's: both use the import name `hdfs`"
            f" and one shadows the other; {ADVICE}")
