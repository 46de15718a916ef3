"""Build glasnost's one optional C extension (the rest of the project is in pyproject.toml).

``glasnost.compute._kernels`` fuses the Leontief iteration's sparse residual (a product, a
subtraction and two dot products) into one pass over the matrix, on OpenMP threads. It is optional: where no C compiler is found
the install goes on without it and glasnost uses scipy's kernels instead (same results,
slower; ``glasnost.compute.linear.COMPILED_KERNELS`` says which is in use).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "glasnost.compute._kernels",
            ["src/glasnost/compute/_kernels.c"],
            extra_compile_args=["-O3", "-std=c99", "-fopenmp"],
            extra_link_args=["-fopenmp"],
            optional=True,
        )
    ]
)
