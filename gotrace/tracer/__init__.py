"""Capture: the tracer backends, all with one interface, chosen by :func:`make_backend`."""

from __future__ import annotations

from gotrace.errors import UsageError
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
        from gotrace.tracer.ptrace import PtraceBackend

        return PtraceBackend(string_size=string_size)
    if name == "ebpf":
        from gotrace.tracer.ebpf import EbpfBackend

        return EbpfBackend(string_size=string_size)
    if name == "sampler":
        from gotrace.tracer.sampler import SamplerBackend

        return SamplerBackend(interval=sample_interval, gomodcache=gomodcache)
    from gotrace.tracer.dtruss import DtrussBackend

    return DtrussBackend()
