import sys

from artifactctl.cli import main

sys.exit(main())
