"""Collect the doctor's snapshot: go's settings for a directory, the module's requirements and
their state in the cache, the directories go writes to, and (unless told not to) whether each
server go would ask answers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from gotrace.doctor import gocmd
from gotrace.doctor.cachescan import module_state
from gotrace.doctor.dirs import dir_state
from gotrace.doctor.model import DoctorSnapshot, ModFile, Reach
from gotrace.doctor.netprobe import probe
from gotrace.goconfig.envvars import DEVNULL
from gotrace.goconfig.httpproxy import proxy_env, route_for
from gotrace.goconfig.pathmatch import match_prefix_patterns
from gotrace.goconfig.routes import probe_targets
from gotrace.modpath import escape

#: process environment variables the doctor reads (and reports; values are redacted later)
ENV_KEYS = (
    "GOTOOLCHAIN",
    "GOFLAGS",
    "GO111MODULE",
    "GOPROXY",
    "GOSUMDB",
    "GOPRIVATE",
    "GONOPROXY",
    "GONOSUMDB",
    "GOINSECURE",
    "GONOSUMCHECK",
    "GONOVERIFY",
    "GOPROXY_INSECURE",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "REQUEST_METHOD",
    "GOMODCACHE",
    "GOCACHE",
    "GOPATH",
)


def gather(
    directory: str,
    environ: Mapping[str, str],
    *,
    network: bool = True,
    timeout: float = 3.0,
) -> DoctorSnapshot:
    """Everything :func:`gotrace.doctor.checks.diagnose` needs, for go run in ``directory``
    with environment ``environ``. With ``network`` False nothing is resolved or contacted."""
    go = gocmd.find_go(environ)
    go_version, go_error = "", ""
    goenv: dict[str, str] = {}
    if go is None:
        go_error = "go not found on PATH"
    else:
        go_version, go_error = gocmd.go_version(go, environ)
        if not go_error:
            goenv, env_error = gocmd.go_env(go, environ, directory)
            if env_error:
                go_error = f"go env failed: {env_error}"
    if not goenv:
        goenv = gocmd.fallback_env(environ)
    modfile, workspace = _modfile(go, goenv, environ)
    gomod_dir = os.path.dirname(modfile.path) if modfile is not None else ""
    gosum = None
    vendor = False
    if modfile is not None:
        sums = [os.path.join(gomod_dir, "go.sum")]
        if workspace:
            sums = [modfile.path + ".sum", *(os.path.join(d, "go.sum") for d in workspace)]
        gosum = gocmd.read_gosum(sums)
        vendor = os.path.isfile(os.path.join(gomod_dir, "vendor", "modules.txt"))
    gomodcache = goenv.get("GOMODCACHE", "")
    dirs = [dir_state("GOMODCACHE", gomodcache)]
    download = os.path.join(gomodcache, "cache", "download")
    if gomodcache and os.path.isdir(download):
        dirs.append(dir_state("GOMODCACHE cache/download", download))
    gocache = goenv.get("GOCACHE", "")
    if gocache and gocache != "off":  # off: no build cache, which go mod download never needs
        dirs.append(dir_state("GOCACHE", gocache))
    reqs = [
        r
        for r in (modfile.requires if modfile is not None and not modfile.error else ())
        if not r.local
    ]
    modules = tuple(module_state(gomodcache, r.fetch_path, r.fetch_version) for r in reqs)
    reach: tuple[Reach, ...] | None = None
    if network:
        nonproxy = goenv.get("GONOPROXY", "")
        ask = next(
            (
                escape(r.fetch_path)
                for r in reqs
                if not match_prefix_patterns(nonproxy, r.fetch_path)
            ),
            "",
        )
        penv = proxy_env(environ)
        reach = tuple(
            probe(t.role, t.url, route_for(t.url, penv), timeout=timeout, index=t.index)
            for t in probe_targets(goenv, ask)
        )
    return DoctorSnapshot(
        directory=directory,
        go_binary=go or "",
        go_version=go_version,
        go_error=go_error,
        goenv=goenv,
        environ={k: environ[k] for k in ENV_KEYS if k in environ},
        gotoolchain=gocmd.effective_gotoolchain(environ, goenv),
        modfile=modfile,
        workspace=workspace,
        gosum=gosum,
        vendor=vendor,
        dirs=tuple(dirs),
        modules=modules,
        reach=reach,
        timeout=timeout,
    )


def _modfile(
    go: str | None, goenv: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[ModFile | None, tuple[str, ...]]:
    if go is None:
        return None, ()
    gowork = goenv.get("GOWORK", "")
    if gowork and gowork != "off":
        return gocmd.read_workspace(go, gowork, environ)
    gomod = goenv.get("GOMOD", "")
    if not gomod or gomod == DEVNULL:
        return None, ()
    return gocmd.read_modfile(go, gomod, environ), ()
