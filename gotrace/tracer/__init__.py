"""Capture: the tracer backends, all with one interface, chosen by :func:`make_backend`."""

from __future__ import annotations

from gotrace.errors import GotraceError, UsageError
from gotrace.tracer.base import Backend

__all__ = ["BACKENDS", "Backend", "make_backend"]

BACKENDS = ("auto", "strace", "ptrace", "ebpf", "sampler", "dtruss")


def make_backend(
    name: str, *, string_size: int, sample_interval: float, gomodcache: str | None
) -> Backend:
    """``auto``: strace when it is installed, otherwise the ptrace backend."""
    if name not in BACKENDS:
        raise UsageError(f"--backend {name}: choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        from gotrace.tracer.strace import strace_path

        name = "strace" if strace_path() is not None else "ptrace"
    if name == "strace":
        from gotrace.tracer.strace import StraceBackend

        return StraceBackend(string_size=string_size)
    if name == "ptrace":
        import importlib

        try:
            ptrace = importlib.import_module("gotrace.tracer.ptrace")
        except ImportError as exc:
            raise GotraceError(
                "strace is not installed and the ptrace backend is unavailable: "
                "apt-get install strace (Debian package 'strace')"
            ) from exc
        backend: Backend = ptrace.PtraceBackend(string_size=string_size)
        return backend
    if name == "ebpf":
        from gotrace.tracer.ebpf import EbpfBackend

        return EbpfBackend(string_size=string_size)
    if name == "sampler":
        from gotrace.tracer.sampler import SamplerBackend

        return SamplerBackend(interval=sample_interval, gomodcache=gomodcache)
    from gotrace.tracer.dtruss import DtrussBackend

    return DtrussBackend()
