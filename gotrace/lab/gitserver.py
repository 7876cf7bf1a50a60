"""A git server for direct mode (GOPROXY=direct / GOPRIVATE), run inside the lab's network
namespace: it answers go's ``?go-get=1`` lookup with a ``go-import`` meta tag and serves the
repositories under ``root`` through ``git http-backend`` (Debian's git), or, with ``stall``,
reads git's ``GET /m.git/info/refs?service=git-upload-pack`` and never answers. With
``daemon-stall`` the tag names ``git://HOST/m.git`` and a listener on git's port 9418 reads
git's ``git-upload-pack /m.git\0host=HOST\0`` request and never answers (a wedged git
daemon); ``daemon`` serves it with Debian's ``git daemon`` on 9418 instead; with
``ssh-stall`` it names ``ssh://git@HOST/m.git`` and a listener on port 22 reads
ssh's banner and never answers.

Run as a script: ``python3 gitserver.py ROOT HOST PORT MODE LOG``; prints ``ready``.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


def make_repo(root: Path, module: str, version: str, *, git: str = "git") -> Path:
    """A bare repository ``root/<last element>.git`` holding module ``module`` at tag
    ``version`` (a go.mod and one package file)."""
    name = module.rsplit("/", 1)[-1]
    bare = root / f"{name}.git"
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    (work / "go.mod").write_text(f"module {module}\n\ngo 1.21\n")
    (work / f"{name}.go").write_text(
        f"package {name}\n\nconst Version = {version!r}\n".replace("'", '"')
    )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "lab", "GIT_AUTHOR_EMAIL": "lab@example.com",
        "GIT_COMMITTER_NAME": "lab", "GIT_COMMITTER_EMAIL": "lab@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    for argv in (
        [git, "init", "-q", "-b", "main", str(work)],
        [git, "-C", str(work), "add", "."],
        [git, "-C", str(work), "commit", "-q", "-m", "lab module"],
        [git, "-C", str(work), "tag", version],
        [git, "clone", "-q", "--bare", str(work), str(bare)],
    ):
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)
    return bare


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        srv.log.write(f"{self.command} {self.path}\n")
        if "go-get=1" in url.query:
            repo = url.path.strip("/").split("/", 1)[0]
            scheme = {"daemon-stall": "git", "daemon": "git", "ssh-stall": "ssh"}.get(
                srv.mode, "http"
            )
            user = "git@" if scheme == "ssh" else ""
            meta = (
                f'<meta name="go-import" content="{srv.host}/{repo} git '
                f'{scheme}://{user}{srv.host}/{repo}.git">\n'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(meta)))
            self.end_headers()
            self.wfile.write(meta)
            return
        if srv.mode == "stall":
            srv.stop.wait()
            self.close_connection = True
            return
        self._backend(url)

    def _backend(self, url: urllib.parse.SplitResult) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(
            [HTTP_BACKEND], input=body, env=env, capture_output=True, timeout=60
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(": ")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path, host: str, port: int, mode: str, log: Path) -> None:
        self.root, self.host, self.mode = root, host, mode
        self.log = open(log, "a", buffering=1)  # noqa: SIM115 (lives as long as the server)
        self.stop = threading.Event()
        super().__init__(("127.0.0.1", port), _Handler)


#: where git:// and ssh:// remotes connect
STALL_PORTS = {"daemon-stall": 9418, "ssh-stall": 22}


def _stall_listener(port: int, log: Path, stop: threading.Event) -> None:
    """Accept on ``port``, log the first bytes each client sends, never answer."""
    import socket

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    held = []

    def serve() -> None:
        while True:
            conn, _ = srv.accept()
            held.append(conn)
            with open(log, "a", buffering=1) as out:
                out.write(f"{port}: {conn.recv(4096)!r}\n")

    threading.Thread(target=serve, daemon=True).start()


def main(argv: list[str]) -> int:
    root, host, port, mode, log = Path(argv[0]), argv[1], int(argv[2]), argv[3], Path(argv[4])
    server = _Server(root, host, port, mode, log)
    if mode in STALL_PORTS:
        _stall_listener(STALL_PORTS[mode], log, server.stop)
    if mode == "daemon":
        # in this process group: the lab's stop ends it with the server
        argv = ["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={root}"]
        argv += ["--listen=127.0.0.1", "--port=9418", str(root)]
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=open(log, "a"))  # noqa: SIM115
    print("ready", flush=True)
    server.serve_forever(poll_interval=0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
