import sys

from estimate.cli import main

sys.exit(main())
