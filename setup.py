"""The optional compiled core of the strace parser (gotrace/parsers/_fastparse.c).

Everything else about the package is in pyproject.toml. ``optional=True``: when the C
compiler or the Python headers are missing the install goes on without it, and the
parser's pure-Python path runs (with the same output).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gotrace.parsers._fastparse",
            ["gotrace/parsers/_fastparse.c"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
            optional=True,
        )
    ]
)
