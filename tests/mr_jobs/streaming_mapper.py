#!/usr/bin/env python3
"""A Hadoop Streaming mapper as written for Hadoop: words out as word<TAB>1, a counter on stderr."""
import os
import sys

input_file = os.path.basename(os.environ["mapreduce_map_input_file"])
for line in sys.stdin:
    for word in line.split():
        print(f"{word}\t1")
sys.stderr.write(f"reporter:counter:Inputs,{input_file},1\n")
sys.stderr.write("reporter:status:mapped\n")
