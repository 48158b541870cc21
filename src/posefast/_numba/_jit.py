"""All jit flags of the Numba backend, in one place.

``fastmath=False`` is load-bearing: the kernels must reproduce the reference's
float64 results bit for bit, so LLVM may neither reassociate sums nor contract
``a*b + c`` into a fused multiply-add.  ``nogil=True`` lets callers decode frames
from several Python threads at once; the kernels hold no global state.
``cache=True`` keeps the compile cost (seconds, once)
to the first call on a machine.

Numba's cache checks only the timestamp of the file defining each kernel, not of
the kernels it calls in other modules.  Installs replace every file, so users are
safe; when *editing* a kernel module, delete ``src/posefast/_numba/__pycache__/*.nb?``
(or set ``NUMBA_CACHE_DIR`` to a fresh folder) or callers in other modules, such as
the fused decode in ``pipeline.py``, keep running the old code.
"""

from __future__ import annotations

import numba

__all__ = ["JIT_OPTIONS", "jit"]

JIT_OPTIONS = dict(nopython=True, cache=True, nogil=True, fastmath=False)


def jit(fn):
    """Compile ``fn`` with the backend's flags (:data:`JIT_OPTIONS`)."""
    return numba.jit(**JIT_OPTIONS)(fn)
