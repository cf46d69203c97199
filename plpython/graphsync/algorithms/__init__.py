"""Pure NumPy/SciPy over CSR arrays (no plpy, no SQL); see the package's code map.

Every NumPy and SciPy import of graphsync is in this package, so this runs before any:
OpenBLAS (NumPy's and SciPy's BLAS on Debian) starts a thread per core when NumPy is
imported, and each spins for some 100 ms of CPU before it sleeps -- half of what a first
NumPy read cost a backend in all, for BLAS no graphsync code calls. So the import finds
OPENBLAS_NUM_THREADS=1 in the backend's environment, unless the server was started with
it, GOTO_NUM_THREADS or OMP_NUM_THREADS set (README, The first read in a new connection).
"""

import os

BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def one_blas_thread(environ):
    """Set OPENBLAS_NUM_THREADS=1 in ``environ`` unless it sets a BLAS thread count."""
    if not any(environ.get(name) for name in BLAS_THREADS):
        environ["OPENBLAS_NUM_THREADS"] = "1"


one_blas_thread(os.environ)
