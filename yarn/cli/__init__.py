"""The YARN commands, as Hadoop's `yarn` tool has them: `emrlab node`, `application`, `logs`, `rmadmin`.

Each module is one command: `main(argv, context) -> exit code`, found by name
in emrlab/cli.py's table. They parse with emrlab_common.command's
CommandParser (bad input: one clear line, a non-zero exit) and talk to the
ResourceManager through `yarn.client.YarnClient`. Reading order:

    node.py         `emrlab node -list [-all] [-states S,...] | -status NODE`: the NodeManagers
    application.py  `emrlab application -list [-appStates S,...] | -status ID | -kill ID`
    logs.py         `emrlab logs -applicationId ID [-containerId ID]`: container logs, gathered from
                    every node's NodeManager by yarn/containerlogs.py
    rmadmin.py      `emrlab rmadmin -refreshNodes | -decommission NODE,... [-g [TIMEOUT]]`
    __init__.py     `print_table`, the right-aligned columns `yarn node -list` prints

`emrlab distributedshell` is yarn/distributedshell's own client and ApplicationMaster.
"""

from __future__ import annotations


def print_table(rows: list[tuple[str, ...]], separator: str = "  ") -> None:
    """Right-aligned columns, a header row first, as `yarn node -list` prints them."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print(separator.join(cell.rjust(width) for cell, width in zip(row, widths)))
