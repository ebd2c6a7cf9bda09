"""`python -m dc2kit.cli`, the same as the `dc2kit` console script."""

import sys

from dc2kit.cli import main

sys.exit(main())
