"""Commands of the managed-cluster layer.

    cluster.py  `emrlab cluster ...`: a managed cluster's whole life, in `aws emr`'s words
    step.py     `emrlab step add | list | describe | cancel`: steps on a managed cluster
    spot.py     `emrlab spot interrupt | experiment`: take spot capacity away, and measure it
    demo.py     `emrlab demo`: the whole stack in one command, for a first look
"""
