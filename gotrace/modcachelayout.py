"""The layout of GOMODCACHE: what a path under it is. Pure (no I/O); the one classifier the
trace analyzers, the doctor's cache scan, the /proc samples and the sampler share.

The layout (golang/go ``src/cmd/go/internal/modfetch/cache.go``, ``fetch.go``, FACTS §4)::

    cache/download/<module>/@v/list                      versions seen (edited under flock)
    cache/download/<module>/@v/list.lock                 the list's lock (before lockedfile.Edit)
    cache/download/<module>/@v/<version>.info|.mod|.zip|.ziphash
    cache/download/<module>/@v/<version>.lock            flock(LOCK_EX) for download and extract
    cache/download/<module>/@v/<version>.partial         an extraction in progress
    cache/download/<module>/@v/<version>.zip75109844.tmp  written, then renamed into place
    cache/download/sumdb/<db>/lookup/<module>@<version>  checksum database answers, and tiles
    cache/vcs/<sha256>, <sha256>.info, <sha256>.lock     bare git clones (direct mode)
    cache/lock                                           the cache's side lock
    <module>@<version>/...                               the extracted tree
    <module>@<version>.tmp-<random>/...                  an extraction in progress (go < 1.16)

Temporary files: every go since modules began writes ``<name><random>.tmp`` (fetch.go's and
renameio's ``tempFile``: ``prefix + strconv.Itoa(rand.Intn(1e9)) + ".tmp"``; renameio's
``Pattern`` glob is ``<name>*.tmp``) and renames it to ``<name>``. Before Go 1.16,
extraction went to ``ioutil.TempDir(parent, "<module>@<version>.tmp-")``, then a rename.

Module paths and versions are escaped on disk: an upper-case letter is ``!`` and its lower
case (``github.com/!burnt!sushi`` is ``github.com/BurntSushi``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gotrace.modpath import unescape

#: what a path is; ``tmp`` files also say what they become (``CachePath.tmp_of``)
ARTIFACTS = (
    "root", "download-root", "module-dir", "version-dir", "list", "list-lock", "info", "mod",
    "zip", "ziphash", "lock", "partial", "tmp", "sumdb", "sumdb-lookup", "sumdb-tile",
    "vcs-root", "vcs", "vcs-info", "vcs-lock", "cache-lock", "extracted", "extracted-tmp",
    "other",
)  # fmt: skip
#: the files of one module version in ``@v/`` (``<version>.<ext>``)
VERSION_FILES = ("info", "mod", "zip", "ziphash", "lock", "partial")
# longest first, so ".ziphash" is not read as ".zip" + "hash"
_VERSION_EXTS = tuple("." + x for x in sorted(VERSION_FILES, key=len, reverse=True))
# tempFile(dir, base, perm): base + decimal digits + ".tmp"
_TMP = re.compile(r"^(?P<base>.+?)\d+\.tmp$")
# ioutil.TempDir(parent, "<module>@<version>.tmp-"): the random part is decimal digits
_TMPDIR = re.compile(r"^(?P<v>.+?)\.tmp-\d+$")


# -- one file name ---------------------------------------------------------------------------
def temp_target(name: str) -> str | None:
    """``v1.0.0.zip75109844.tmp`` -> ``v1.0.0.zip``: the name a temporary file go wrote is
    renamed to, or None when ``name`` is not one."""
    m = _TMP.match(name)
    return m.group("base") if m else None


#: the version files go writes through a temporary file (``tempFile``, then a rename)
TEMP_WRITTEN = ("info", "mod", "zip", "ziphash")


def version_temp(name: str) -> tuple[str, str] | None:
    """``v1.0.0.zip75109844.tmp`` -> (``zip``, ``v1.0.0``): a temporary file of one of
    :data:`TEMP_WRITTEN` and the (escaped) version it belongs to, or None."""
    base = temp_target(name)
    hit = version_file(base) if base is not None else None
    return hit if hit is not None and hit[0] in TEMP_WRITTEN else None


def version_file(name: str) -> tuple[str, str] | None:
    """``v1.0.0.ziphash`` -> (``ziphash``, ``v1.0.0``): a name in ``@v/`` as one of
    :data:`VERSION_FILES` and the (escaped) version it belongs to, or None (``list``,
    ``list.lock``, a temporary file, anything else)."""
    if name in ("list", "list.lock"):
        return None
    for ext in _VERSION_EXTS:
        if name.endswith(ext) and len(name) > len(ext):
            return ext[1:], name[: -len(ext)]
    return None


def extraction_temp(version_part: str) -> str | None:
    """``v1.0.0.tmp-123456`` -> ``v1.0.0``: the version of an extraction directory go < 1.16
    was still writing (``<module>@<version>.tmp-<random>``), or None."""
    m = _TMPDIR.match(version_part)
    return m.group("v") if m else None


def is_download_temp(name: str) -> bool:
    """Whether a file name (or path) is work in progress under ``cache/download``: a
    temporary file go renames into place, or a version's ``.partial`` marker."""
    base = name.rsplit("/", 1)[-1]
    return temp_target(base) is not None or (base.endswith(".partial") and base != ".partial")


# -- one path --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CachePath:
    """One path under GOMODCACHE, classified. ``module``/``version`` are unescaped.

    ``artifact`` is one of :data:`ARTIFACTS`. A ``tmp`` file names what it is renamed to:
    ``tmp_of`` (``zip``, ``mod``, ...) and ``final`` (the path). ``inner`` is the path inside
    an extracted module tree (``""`` for its root); ``db`` the checksum database's name.
    """

    path: str
    rel: str
    artifact: str
    module: str | None = None
    version: str | None = None
    tmp_of: str | None = None
    final: str | None = None
    inner: str | None = None
    db: str | None = None

    @property
    def key(self) -> str | None:
        """``module@version`` (or just the module for module-level paths)."""
        if self.module is None:
            return None
        return f"{self.module}@{self.version}" if self.version else self.module


def classify(path: str, gomodcache: str) -> CachePath | None:
    """What ``path`` is in the module cache rooted at ``gomodcache``; None when it is not
    under it."""
    root = gomodcache.rstrip("/") or "/"
    if path == root:
        return CachePath(path, "", "root")
    if not path.startswith(root + "/"):
        return None
    return _classify(path, path[len(root) + 1 :].strip("/"))


def classify_relative(rel: str) -> CachePath:
    """What a path relative to GOMODCACHE (``cache/download/...``) is; ``path`` is ``rel``."""
    rel = rel.strip("/")
    return _classify(rel, rel) if rel else CachePath(rel, "", "root")


def classify_download(path: str) -> CachePath | None:
    """What a path under some module cache's ``cache/download`` is, where the cache's root is
    not known (``path`` is the whole path); None for any other path."""
    _, sep, rest = path.partition("/cache/download/")
    if not sep:
        return None
    return _classify(path, ("cache/download/" + rest).strip("/"))


def download_temp_url_path(path: str, of: tuple[str, ...] = ("zip", "mod", "info")) -> str | None:
    """``/root/go/pkg/mod/cache/download/example.com/a/@v/v1.0.0.zip123.tmp`` ->
    ``example.com/a/@v/v1.0.0.zip``: for a temporary file of one of ``of``, the path a proxy
    serves its final file at (``cache/download`` has a proxy's layout: go can serve it as
    ``GOPROXY=file://...``), still escaped. None for any other path."""
    cp = classify_download(path)
    if cp is None or cp.artifact != "tmp" or cp.tmp_of not in of or not cp.module:
        return None
    return (cp.final or "").partition("/cache/download/")[2] or None


def _classify(path: str, rel: str) -> CachePath:
    if rel == "cache" or rel.startswith("cache/"):
        return _classify_cache(path, rel)
    return _classify_extracted(path, rel)


def _classify_extracted(path: str, rel: str) -> CachePath:
    parts = rel.split("/")
    for i, seg in enumerate(parts):
        if "@" not in seg:
            continue
        name, _, version = seg.partition("@")
        module = unescape("/".join([*parts[:i], name]))
        inner = "/".join(parts[i + 1 :])
        tmp = extraction_temp(version)
        if tmp is not None:
            return CachePath(path, rel, "extracted-tmp", module, unescape(tmp), inner=inner)
        return CachePath(path, rel, "extracted", module, unescape(version), inner=inner)
    return CachePath(path, rel, "other")


def _classify_cache(path: str, rel: str) -> CachePath:
    parts = rel.split("/")
    if rel == "cache/lock":
        return CachePath(path, rel, "cache-lock")
    if len(parts) >= 2 and parts[1] == "vcs":
        return _classify_vcs(path, rel, parts[2:])
    if len(parts) < 2 or parts[1] != "download":
        return CachePath(path, rel, "other")
    rest = parts[2:]
    if not rest:
        return CachePath(path, rel, "download-root")
    if rest[0] == "sumdb":
        return _classify_sumdb(path, rel, rest[1:])
    if "@v" not in rest:
        return CachePath(path, rel, "module-dir", unescape("/".join(rest)))
    at = rest.index("@v")
    module = unescape("/".join(rest[:at]))
    files = rest[at + 1 :]
    if not files:
        return CachePath(path, rel, "version-dir", module)
    name = files[-1]
    base = temp_target(name)
    if base is not None:
        final = path[: len(path) - len(name)] + base
        inner = _version_file(path, rel, module, base)
        return CachePath(
            path, rel, "tmp", module, inner.version, tmp_of=inner.artifact, final=final
        )
    return _version_file(path, rel, module, name)


def _version_file(path: str, rel: str, module: str, name: str) -> CachePath:
    if name == "list":
        return CachePath(path, rel, "list", module)
    if name == "list.lock":
        return CachePath(path, rel, "list-lock", module)
    hit = version_file(name)
    if hit is not None:
        return CachePath(path, rel, hit[0], module, unescape(hit[1]))
    return CachePath(path, rel, "other", module)


def _classify_sumdb(path: str, rel: str, rest: list[str]) -> CachePath:
    if not rest:
        return CachePath(path, rel, "sumdb")
    db = rest[0]
    tail = rest[1:]
    if tail and temp_target(tail[-1]) is not None:
        return CachePath(path, rel, "tmp", db=db, tmp_of="sumdb")
    if len(tail) >= 2 and tail[0] == "lookup":
        entry = "/".join(tail[1:])
        module, at, version = entry.rpartition("@")
        if at:
            return CachePath(path, rel, "sumdb-lookup", unescape(module), unescape(version), db=db)
        return CachePath(path, rel, "sumdb-lookup", db=db)
    if tail and tail[0] == "tile":
        return CachePath(path, rel, "sumdb-tile", db=db)
    return CachePath(path, rel, "sumdb", db=db)


def _classify_vcs(path: str, rel: str, rest: list[str]) -> CachePath:
    if not rest:
        return CachePath(path, rel, "vcs-root")
    head = rest[0]
    if len(rest) == 1 and head.endswith(".info"):
        return CachePath(path, rel, "vcs-info")
    if len(rest) == 1 and head.endswith(".lock"):
        return CachePath(path, rel, "vcs-lock")
    return CachePath(path, rel, "vcs", inner="/".join(rest[1:]))
