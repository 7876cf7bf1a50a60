"""Ask the go command about its settings and the module, without letting it fetch anything.

Every go run here gets GOTOOLCHAIN=local, so go never switches to (and downloads) another
toolchain while being asked. The user's own GOTOOLCHAIN is worked out the way go does it:
the environment, then the go env file, then $GOROOT/go.env.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gotrace.doctor.model import ModFile, Requirement
from gotrace.goconfig.goproxy import DEFAULT_GOPROXY
from gotrace.goconfig.gosumdb import DEFAULT_GOSUMDB

GO_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class GoRun:
    ok: bool
    stdout: str
    error: str


def find_go(environ: Mapping[str, str]) -> str | None:
    """The go the user would run: the first on their PATH."""
    return shutil.which("go", path=environ.get("PATH", os.defpath))


def go_environ(environ: Mapping[str, str]) -> dict[str, str]:
    env = dict(environ)
    env["GOTOOLCHAIN"] = "local"
    return env


def run_go(go: str, args: list[str], environ: Mapping[str, str], cwd: str | None) -> GoRun:
    try:
        proc = subprocess.run(
            [go, *args],
            cwd=cwd,
            env=go_environ(environ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GO_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return GoRun(False, "", f"go {' '.join(args)}: no answer in {GO_TIMEOUT:g}s")
    except OSError as exc:
        return GoRun(False, "", f"{go}: {exc.strerror or exc}")
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return GoRun(False, proc.stdout, lines[0] if lines else f"exit status {proc.returncode}")
    return GoRun(True, proc.stdout, "")


def go_version(go: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """("go1.22.3", "") or ("", error)."""
    r = run_go(go, ["version"], environ, None)
    fields = r.stdout.split()
    if not r.ok or len(fields) < 3 or fields[:2] != ["go", "version"]:
        return "", r.error or f"unexpected output of go version: {r.stdout.strip()[:80]!r}"
    return fields[2], ""


def go_env(go: str, environ: Mapping[str, str], cwd: str) -> tuple[dict[str, str], str]:
    r = run_go(go, ["env", "-json"], environ, cwd)
    if not r.ok:
        return {}, r.error
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError as exc:
        return {}, f"go env -json: not JSON ({exc.msg})"
    return {str(k): str(v) for k, v in data.items()}, ""


def fallback_env(environ: Mapping[str, str]) -> dict[str, str]:
    """go's defaults, for when go itself cannot be asked."""
    home = environ.get("HOME", "")
    gopath = environ.get("GOPATH") or (f"{home}/go" if home else "")
    first = gopath.split(os.pathsep)[0] if gopath else ""
    out = {
        "GOPROXY": DEFAULT_GOPROXY,
        "GOSUMDB": DEFAULT_GOSUMDB,
        "GOPATH": gopath,
        "GOMODCACHE": f"{first}/pkg/mod" if first else "",
        "GOCACHE": f"{home}/.cache/go-build" if home else "",
    }
    keys = (
        "GO111MODULE",
        "GOFLAGS",
        "GOPROXY",
        "GOSUMDB",
        "GOPRIVATE",
        "GONOPROXY",
        "GONOSUMDB",
        "GOINSECURE",
        "GOMODCACHE",
        "GOCACHE",
        "GOPATH",
    )
    out.update({k: environ[k] for k in keys if environ.get(k)})
    out.setdefault("GONOPROXY", out.get("GOPRIVATE", ""))
    out.setdefault("GONOSUMDB", out.get("GOPRIVATE", ""))
    return out


def parse_env_file(text: str) -> dict[str, str]:
    """The go env file and $GOROOT/go.env: ``KEY=VALUE`` lines, ``#`` comments."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


def effective_gotoolchain(environ: Mapping[str, str], goenv: Mapping[str, str]) -> str:
    if environ.get("GOTOOLCHAIN"):
        return environ["GOTOOLCHAIN"]
    for path in (goenv.get("GOENV", ""), os.path.join(goenv.get("GOROOT", ""), "go.env")):
        if not path or path == "off" or not os.path.isfile(path):
            continue
        try:
            value = parse_env_file(Path(path).read_text(errors="replace")).get("GOTOOLCHAIN")
        except OSError:
            continue
        if value:
            return value
    return "auto"


def _edit_json(go: str, args: list[str], environ: Mapping[str, str], cwd: str) -> dict[str, Any]:
    r = run_go(go, args, environ, cwd)
    if not r.ok:
        raise ValueError(r.error)
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError as exc:
        raise ValueError(f"go {' '.join(args)}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"go {' '.join(args)}: unexpected output")
    return data


def apply_replaces(
    requires: list[dict[str, Any]], replaces: list[dict[str, Any]], base: str
) -> list[Requirement]:
    """What go downloads for each requirement: a ``replace`` of path (any version) or of
    path@version redirects it to another module version, or to a local directory."""
    out = []
    for req in requires:
        path, version = str(req.get("Path", "")), str(req.get("Version", ""))
        fetch_path, fetch_version, local = path, version, ""
        for rep in replaces:
            old, new = rep.get("Old") or {}, rep.get("New") or {}
            if old.get("Path") != path or old.get("Version") not in (None, "", version):
                continue
            if new.get("Version"):
                fetch_path, fetch_version = str(new.get("Path")), str(new["Version"])
            else:
                local = os.path.normpath(os.path.join(base, str(new.get("Path", ""))))
        out.append(
            Requirement(path, version, bool(req.get("Indirect")), fetch_path, fetch_version, local)
        )
    return out


def read_modfile(go: str, gomod: str, environ: Mapping[str, str]) -> ModFile:
    base = os.path.dirname(gomod)
    try:
        data = _edit_json(go, ["mod", "edit", "-json", gomod], environ, base)
    except ValueError as exc:
        return ModFile(gomod, error=str(exc))
    replaces = list(data.get("Replace") or [])
    requires = apply_replaces(list(data.get("Require") or []), replaces, base)
    return ModFile(
        path=gomod,
        module=str((data.get("Module") or {}).get("Path", "")),
        go=str(data.get("Go") or ""),
        toolchain=str(data.get("Toolchain") or ""),
        requires=tuple(requires),
    )


def read_workspace(
    go: str, gowork: str, environ: Mapping[str, str]
) -> tuple[ModFile, tuple[str, ...]]:
    """A go.work as one ModFile: the requirements of every used module (minus the used
    modules themselves), with go.work's replaces winning."""
    base = os.path.dirname(gowork)
    try:
        data = _edit_json(go, ["work", "edit", "-json", gowork], environ, base)
    except ValueError as exc:
        return ModFile(gowork, error=str(exc)), ()
    work_replaces = list(data.get("Replace") or [])
    dirs = tuple(
        os.path.normpath(os.path.join(base, str(u.get("DiskPath", ""))))
        for u in data.get("Use") or []
    )
    mods = [read_modfile(go, os.path.join(d, "go.mod"), environ) for d in dirs]
    own = {m.module for m in mods}
    seen: dict[tuple[str, str], Requirement] = {}
    for m in mods:
        for r in m.requires:
            if r.path in own:
                continue
            for rep in work_replaces:
                old, new = rep.get("Old") or {}, rep.get("New") or {}
                if old.get("Path") == r.path and old.get("Version") in (None, "", r.version):
                    if new.get("Version"):
                        r = Requirement(
                            r.path, r.version, r.indirect, str(new["Path"]), str(new["Version"])
                        )
                    else:
                        r = Requirement(
                            r.path,
                            r.version,
                            r.indirect,
                            local=os.path.join(base, str(new.get("Path", ""))),
                        )
            seen.setdefault((r.fetch_path or r.path, r.fetch_version or r.version), r)
    errors = "; ".join(m.error for m in mods if m.error)
    return (
        ModFile(
            gowork,
            module="(workspace)",
            go=str(data.get("Go") or ""),
            toolchain=str(data.get("Toolchain") or ""),
            requires=tuple(seen.values()),
            error=errors,
        ),
        dirs,
    )


def read_gosum(paths: list[str]) -> frozenset[str] | None:
    """``path version`` and ``path version/go.mod`` keys of go.sum lines; None when there is
    no go.sum at all."""
    keys: set[str] = set()
    found = False
    for path in paths:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        found = True
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 3:
                keys.add(f"{fields[0]} {fields[1]}")
    return frozenset(keys) if found else None
