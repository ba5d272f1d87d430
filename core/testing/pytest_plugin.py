"""pytest fixtures for lamina and its plugins: real bundles, real containers, real cleanup.

Loaded automatically (entry point ``pytest11``) wherever lamina is installed. Fixtures:

- ``lamina``: a :class:`Runtime` bound to a private state root for this test session;
- ``bundle``: a factory ``bundle(args=None, config=None) -> Bundle`` making fresh busybox bundles;
- ``admin_file``: a factory ``admin_file(toml_text) -> path`` for a root-owned admin file, to be
  passed as ``lamina.run(..., admin=path)`` (enable, disable or configure a plugin for one test).

Every container a test creates through ``Runtime`` is deleted at the end of the test, even when
it fails; at the end of the session everything under the suite's cgroup parent is swept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from lamina import testing


class Runtime:
    """Runs the lamina CLI with a private --root and remembers the ids it created."""

    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root
        self.ids: set[str] = set()
        self.admin: str | None = None

    def argv(self, *args: str, log: str | None = None, log_format: str | None = None) -> list[str]:
        out = [self.binary, "--root", self.root]
        if log:
            out += ["--log", log]
        if log_format:
            out += ["--log-format", log_format]
        return out + list(args)

    def env(self, admin: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        path = admin or self.admin
        if path:
            env["LAMINA_CONFIG"] = path
        return env

    def __call__(self, *args: str, admin: str | None = None, timeout: float = 60, input: bytes | None = None,
                 check: bool = False, **kw) -> subprocess.CompletedProcess:
        """Run one lamina command; returns the CompletedProcess (stdout/stderr as text)."""
        self._remember(args)
        kw.setdefault("stdin", None if input is not None else subprocess.DEVNULL)
        kw.setdefault("capture_output", True)
        p = subprocess.run(self.argv(*args), env=self.env(admin), timeout=timeout, input=input, **kw)
        if isinstance(p.stdout, bytes):
            p.stdout = p.stdout.decode(errors="replace")
            p.stderr = p.stderr.decode(errors="replace") if p.stderr is not None else ""
        if check and p.returncode != 0:
            raise AssertionError(f"lamina {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def run(self, b: testing.Bundle, *extra: str, **kw) -> subprocess.CompletedProcess:
        """`lamina run --bundle B ID` in the foreground: the process's stdout, stderr, exit code."""
        return self("run", "--bundle", b.path, *extra, b.id, **kw)

    def create(self, b: testing.Bundle, *extra: str, **kw) -> subprocess.CompletedProcess:
        return self("create", "--bundle", b.path, *extra, b.id, **kw)

    def state(self, cid: str) -> dict:
        import json

        p = self("state", cid)
        if p.returncode != 0:
            raise AssertionError(f"lamina state {cid}: {p.stderr}")
        return json.loads(p.stdout)

    def _remember(self, args: tuple[str, ...]) -> None:
        if args and args[0] in ("create", "run") and len(args) > 1:
            self.ids.add(args[-1])

    def cleanup(self) -> None:
        for cid in sorted(self.ids):
            subprocess.run(self.argv("delete", "--force", cid), env=self.env(), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        self.ids.clear()


def _binary() -> str:
    env = os.environ.get("LAMINA_BIN")
    if env:
        return env
    import sys

    cand = os.path.join(os.path.dirname(sys.executable), "lamina")
    return cand if os.path.exists(cand) else shutil.which("lamina") or "lamina"


@pytest.fixture(scope="session")
def lamina_session_root() -> Iterator[str]:
    root = tempfile.mkdtemp(prefix="lamina-root-", dir="/run" if os.path.isdir("/run") else None)
    yield root
    shutil.rmtree(root, ignore_errors=True)
    sweep_cgroups()


@pytest.fixture
def lamina(lamina_session_root: str) -> Iterator[Runtime]:
    if os.geteuid() != 0:
        pytest.skip("real containers need root")
    rt = Runtime(_binary(), lamina_session_root)
    try:
        yield rt
    finally:
        rt.cleanup()


@pytest.fixture
def bundle(tmp_path_factory):
    parent = tmp_path_factory.mktemp("bundles", numbered=True)
    made: list[testing.Bundle] = []

    def make(args: list[str] | None = None, config: dict | None = None, **kw) -> testing.Bundle:
        b = testing.make_bundle(str(parent), args=args, config=config, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.remove()


@pytest.fixture
def admin_file(tmp_path):
    def make(text: str) -> str:
        p = tmp_path / f"lamina-{len(list(tmp_path.iterdir()))}.toml"
        p.write_text(text)
        os.chmod(p, 0o644)
        return str(p)

    return make


def sweep_cgroups() -> None:
    """Remove every cgroup under this session's parent in every hierarchy (and the parent
    itself), and those of earlier sessions whose pytest is gone: leftovers of a test that
    crashed. Nothing outside the suite's own top directory is ever touched."""
    import glob
    import signal
    import time

    mine = glob.glob(f"/sys/fs/cgroup/*/{testing.CGROUP_PARENT}") + \
        glob.glob(f"/sys/fs/cgroup/{testing.CGROUP_PARENT}")
    stale = [p for p in glob.glob(f"/sys/fs/cgroup/*/{testing.CGROUP_TOP}/s*") +
             glob.glob(f"/sys/fs/cgroup/{testing.CGROUP_TOP}/s*")
             if p[p.rindex("/s") + 2:].isdigit() and not os.path.exists(f"/proc/{p[p.rindex('/s') + 2:]}")]
    for parent in mine + stale:
        for dirpath, _dirs, _files in sorted(os.walk(parent), key=lambda t: -len(t[0])):
            fz = os.path.join(dirpath, "freezer.state")
            if os.path.exists(fz):
                try:
                    with open(fz, "w") as f:
                        f.write("THAWED")
                except OSError:
                    pass
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            except OSError:
                pass
            for _ in range(50):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
