import sys

from emrlab.cli import main

sys.exit(main())
