"""`python -m orgloop`: the CLI under the Python you name, which experiments then use too."""

from __future__ import annotations

import sys

from orgloop.runtime.cli import main

sys.exit(main())
