"""A throwaway certificate for the lab's TLS proxies, made at run time with the openssl CLI.

go trusts it through ``SSL_CERT_FILE`` (Go's crypto/x509 reads extra roots from there on
Linux), so ``GOPROXY=https://localhost:PORT`` works with no change to the system's roots.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gotrace.errors import GotraceError


@dataclass(frozen=True, slots=True)
class LabCert:
    """A self-signed certificate (it is its own CA) and its key, for ``names``."""

    cert: Path
    key: Path
    names: tuple[str, ...]

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


def requires_openssl() -> str | None:
    return None if shutil.which("openssl") else "the openssl command (Debian's openssl) is missing"


def make_cert(directory: Path, names: tuple[str, ...] = ("localhost",)) -> LabCert:
    """Write ``lab.crt``/``lab.key`` for ``names`` (DNS names; 127.0.0.1 is always added)."""
    exe = shutil.which("openssl")
    if exe is None:
        raise GotraceError("lab setup: " + (requires_openssl() or "openssl missing"))
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "lab.crt", directory / "lab.key"
    san = ",".join([*(f"DNS:{n}" for n in names), "IP:127.0.0.1"])
    argv = [
        exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise GotraceError(f"lab setup: openssl req failed: {proc.stderr.strip()[:200]}")
    return LabCert(cert, key, names)
