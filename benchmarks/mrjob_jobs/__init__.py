"""The benchmark's jobs as mrjob MRJob scripts (one per file: mrjob runs each file as its tasks)."""
