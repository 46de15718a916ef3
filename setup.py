"""Build glasnost's two optional C extensions (the rest of the project is in pyproject.toml).

``glasnost.compute._kernels`` fuses the Leontief iteration's sparse residual (a product, a
subtraction and two dot products) into one pass over the matrix, on OpenMP threads, with the
solver's set-up passes; ``glasnost.economy._kernels`` chooses the square technique in one
parallel pass over the input coefficients, lays out the writer's coefficient table, and checks
and splits it by role when it is read back (with the string ids laid out for numpy). Both are
optional: where no C compiler is found the install goes on without them and glasnost does the
same work with numpy and scipy (same results, slower; ``glasnost.compute.linear.COMPILED_KERNELS``
says whether the solver's is in use).
"""

from setuptools import Extension, setup

OPENMP = {"extra_compile_args": ["-O3", "-std=c99", "-fopenmp"], "extra_link_args": ["-fopenmp"], "optional": True}

setup(
    ext_modules=[
        Extension("glasnost.compute._kernels", ["src/glasnost/compute/_kernels.c"], **OPENMP),
        Extension("glasnost.economy._kernels", ["src/glasnost/economy/_kernels.c"], **OPENMP),
    ]
)
