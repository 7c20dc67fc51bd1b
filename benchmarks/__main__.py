"""`python -m benchmarks run ...`: the benchmark suite (benchmarks/suite.py)."""

import sys

from benchmarks.suite import main

USAGE = "usage: python -m benchmarks run [--sizes 4m,16m] [--engines ...] [--jobs ...] [--runs N] [--full]"

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "run":
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[2:]))
