"""Suite-wide settings.

Experiments in tests train tiny numpy models; one BLAS thread keeps them fast when the test run
shares two cores with other work (the sandbox passes OMP_NUM_THREADS through to experiments).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
