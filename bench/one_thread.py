"""One BLAS, OpenMP and Rayon thread per benchmark process, as Spark gives a task's Python worker
(OMP_NUM_THREADS = spark.task.cpus): a second thread of the pool numpy starts on import would spin
on the core being measured. Import it before numpy, OpenCV or imgdd."""

import os

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "RAYON_NUM_THREADS",
)

for _variable in THREAD_VARIABLES:
    os.environ[_variable] = "1"
