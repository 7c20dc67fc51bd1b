"""The reducer's open channels to map hosts' shuffle services: how many it keeps.

A reducer of a job with maps on hundreds of nodes must not hold hundreds of
connections open to the end of its copy phase. Its fetcher keeps them in one
`emrlab_common.channels.ChannelCache`: at most SHUFFLE_CHANNELS_MAX stay open,
opening one more closes the least recently used one no copy is streaming on,
and one a copy streams on closes only when that copy ends. Copies in flight
are bounded by `mapreduce.reduce.shuffle.parallelcopies`.
"""

from __future__ import annotations

# Open channels to map hosts one reducer keeps, idle ones included (Hadoop's fetchers keep one
# connection each, mapreduce.reduce.shuffle.parallelcopies of them: 5 by default).
SHUFFLE_CHANNELS_MAX = 16
