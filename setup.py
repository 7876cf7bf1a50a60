"""The optional compiled parts: the core of the strace parser (gotrace/parsers/_fastparse.c)
and the library the ebpf backend loads into bpftrace (gotrace/tracer/_bpfwake.c: not a
Python module, it is never imported).

Everything else about the package is in pyproject.toml. ``optional=True``: when the C
compiler or the Python headers are missing the install goes on without them; the parser's
pure-Python path runs (with the same output), and bpftrace runs as it is.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gotrace.parsers._fastparse",
            ["gotrace/parsers/_fastparse.c"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
            optional=True,
        ),
        Extension(
            "gotrace.tracer._bpfwake",
            ["gotrace/tracer/_bpfwake.c"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
            libraries=["dl"],
            optional=True,
        ),
    ]
)
