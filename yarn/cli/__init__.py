"""The YARN commands: `emrlab node`, `application`, `logs`, `rmadmin` (and `distributedshell`)."""

from __future__ import annotations


def print_table(rows: list[tuple[str, ...]], separator: str = "  ") -> None:
    """Right-aligned columns, a header row first, as `yarn node -list` prints them."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print(separator.join(cell.rjust(width) for cell, width in zip(row, widths)))
