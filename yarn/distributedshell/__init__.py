"""The distributed shell: a minimal YARN application that runs one shell command in N containers."""
