"""`emrlab fsck PATH [-files [-blocks [-locations]]]`: HDFS's health, as Hadoop's fsck reports it.

The NameNode streams every file under PATH with its blocks and their live and
corrupt replicas; this command counts and prints them in Hadoop's layout and
ends with `The filesystem under path '...' is HEALTHY` (exit 0) or `CORRUPT`
(exit 1: some block has no good replica left).
"""

from __future__ import annotations

import argparse
import time

from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.rpc import current_user
from hdfs import Client
from hdfs.protocol import FileStatus

EPILOG = """examples:
  emrlab fsck /
  emrlab fsck /data -files -blocks -locations
"""


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "0.0 %"


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab fsck", description="Check the health of files in HDFS.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", default="/")
    parser.add_argument("-files", action="store_true", help="print every file checked")
    parser.add_argument("-blocks", action="store_true", help="print each file's blocks")
    parser.add_argument("-locations", action="store_true", help="print where each block's replicas are")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with Client.for_cluster(context.cluster_dir, properties=context.definitions) as client:
        path = client.resolve(args.path)
        print(f"FSCK started by {current_user()} (auth:SIMPLE) for path {path} at {time.strftime('%a %b %d %H:%M:%S %Z %Y')}")
        files, summary = client.fsck(path)
    totals = dict.fromkeys(("dirs", "files", "size", "blocks", "replicas", "minimal", "over", "under",
                            "missing_blocks", "missing_size", "corrupt", "missing_replicas"), 0)
    for entry in files:
        status = FileStatus.from_proto(entry.status)
        if status.is_directory:
            totals["dirs"] += 1
            continue
        totals["files"] += 1
        totals["size"] += status.length_bytes
        lines, healthy = _check_file(entry, status, totals, args)
        if args.files or not healthy:
            verdict = "  OK" if healthy else ""
            under_construction = " OPENFORWRITE: " if status.under_construction else ""
            if args.files:
                print(f"{status.path} {status.length_bytes} bytes, replicated: replication={status.replication}, "
                      f"{len(entry.blocks)} block(s): {under_construction}{verdict}")
            for line in lines:
                print(line)
    corrupt = totals["missing_blocks"] + totals["corrupt"] > 0
    blocks = totals["blocks"]
    print()
    print(f"Status: {'CORRUPT' if corrupt else 'HEALTHY'}")
    print(f" Number of data-nodes:\t{summary.live_datanodes}")
    print(" Number of racks:\t\t1")
    print(f" Total dirs:\t\t\t{totals['dirs']}")
    print(" Total symlinks:\t\t0")
    print()
    print("Replicated Blocks:")
    print(f" Total size:\t{totals['size']} B")
    print(f" Total files:\t{totals['files']}")
    average_size = totals["size"] // blocks if blocks else 0
    print(f" Total blocks (validated):\t{blocks} (avg. block size {average_size} B)")
    if totals["missing_blocks"]:
        print("  ********************************")
        print("  UNDER MIN REPL'D BLOCKS:\t" + f"{totals['missing_blocks']} ({percent(totals['missing_blocks'], blocks)})")
        print(f"  MISSING SIZE:\t\t{totals['missing_size']} B")
        print("  ********************************")
    print(f" Minimally replicated blocks:\t{totals['minimal']} ({percent(totals['minimal'], blocks)})")
    print(f" Over-replicated blocks:\t{totals['over']} ({percent(totals['over'], blocks)})")
    print(f" Under-replicated blocks:\t{totals['under']} ({percent(totals['under'], blocks)})")
    print(" Mis-replicated blocks:\t\t0 (0.0 %)")
    print(f" Default replication factor:\t{summary.default_replication}")
    average_replication = totals["replicas"] / blocks if blocks else 0.0
    print(f" Average block replication:\t{average_replication:.1f}")
    print(f" Missing blocks:\t\t{totals['missing_blocks']}")
    print(f" Corrupt blocks:\t\t{totals['corrupt']}")
    expected = totals["replicas"] + totals["missing_replicas"]
    print(f" Missing replicas:\t\t{totals['missing_replicas']} ({percent(totals['missing_replicas'], expected)})")
    print()
    print(f"FSCK ended at {time.strftime('%a %b %d %H:%M:%S %Z %Y')} in {1000 * (time.monotonic() - started):.0f} milliseconds")
    if summary.safe_mode:
        print("\nThe NameNode is in safe mode.")
    print()
    print(f"The filesystem under path '{path}' is {'CORRUPT' if corrupt else 'HEALTHY'}")
    return 1 if corrupt else 0


def _check_file(entry, status: FileStatus, totals: dict, args) -> tuple[list[str], bool]:
    """Count one file's blocks into `totals`; return the lines to print about it and whether it is healthy."""
    lines, healthy, missing = [], True, []
    for index, block in enumerate(entry.blocks):
        name = f"blk_{block.block.block_id}_{block.block.generation_stamp}"
        live = len(block.live_replicas)
        leaving = len(block.decommissioning_replicas) + len(block.decommissioned_replicas)
        totals["blocks"] += 1
        totals["replicas"] += live
        if live + leaving >= 1:
            totals["minimal"] += 1
        if live > block.expected_replication:
            totals["over"] += 1
        if live < block.expected_replication and live + leaving > 0:
            totals["under"] += 1
            totals["missing_replicas"] += block.expected_replication - live
            lines.append(f"{status.path}: Under replicated {name}. Target Replicas is "
                         f"{block.expected_replication} but found {live} live replica(s), "
                         f"{len(block.decommissioned_replicas)} decommissioned replica(s), and "
                         f"{len(block.decommissioning_replicas)} decommissioning replica(s).")
        if live + leaving == 0 and not status.under_construction:
            healthy = False
            totals["missing_replicas"] += block.expected_replication
            if block.corrupt_replicas:
                totals["corrupt"] += 1
                lines.append(f"{status.path}: CORRUPT block {name}")
            else:
                totals["missing_blocks"] += 1
                totals["missing_size"] += block.block.length_bytes
                missing.append(block.block.length_bytes)
        if args.blocks:
            line = f"{index}. {name} len={block.block.length_bytes} Live_repl={live}"
            if block.decommissioning_replicas:
                line += f" Decommissioning_repl={len(block.decommissioning_replicas)}"
            if block.decommissioned_replicas:
                line += f" Decommissioned_repl={len(block.decommissioned_replicas)}"
            if block.corrupt_replicas:
                line += f" Corrupt_repl={len(block.corrupt_replicas)}"
            if args.locations:
                line += " [" + ", ".join(f"{replica.node_id}({replica.address})" for replica in block.live_replicas) + "]"
            lines.append(line)
    if missing:
        lines.append(f"{status.path}: MISSING {len(missing)} blocks of total size {sum(missing)} B.")
    return lines, healthy
