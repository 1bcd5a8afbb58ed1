"""BLAS threads during a run (issue 14: performance).

numpy's linear algebra (the stat-arb and factor models' least squares, QR and eigen
decompositions) calls OpenBLAS, which by default starts a thread per core and splits each call
over them. The matrices of a run are small (a few hundred symbols by a window of hours): the
threads cost more CPU than they save. At 200 symbols over the full window on 2 cores they
burnt 14 s of CPU of 69 s for no gain in wall time (57 s; 55 s on one thread). A daemon on a
VPS shares its cores with other work, so a run keeps BLAS on one thread while it lasts and puts
back what it found.

Only the BLAS libraries loaded when the run starts are limited (numpy's, loaded with it);
scipy's own copy, loaded later by the features that use it (the report's statistics), keeps
its default. Which results a limit can change: none of the replay's journal rows did (checked
row by row at 15 and 200 symbols).

Source: threadpoolctl (https://github.com/joblib/threadpoolctl, ``threadpool_limits``), the
library scikit-learn and joblib use for this; OpenBLAS threading:
https://github.com/OpenMathLib/OpenBLAS/wiki/Faq#multi-threaded
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from threadpoolctl import threadpool_limits

RUN_BLAS_THREADS: Final = 1
"""BLAS threads per library while a run lasts."""


@contextmanager
def run_threads() -> Iterator[None]:
    """Limit every BLAS library loaded now to :data:`RUN_BLAS_THREADS` while the block runs;
    the thread counts in force before are restored on exit (also on an error)."""
    with threadpool_limits(limits=RUN_BLAS_THREADS, user_api="blas"):
        yield
