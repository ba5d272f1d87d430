"""pytest fixtures for lamina and its plugins: real bundles, real containers, real cleanup.

Loaded automatically (entry point ``pytest11``) wherever lamina is installed. Fixtures:

- ``lamina``: a :class:`Runtime` bound to a private state root for this test session;
- ``bundle``: a factory ``bundle(args=None, config=None) -> Bundle`` making fresh busybox bundles;
- ``admin_file``: a factory ``admin_file(toml_text_or_dict) -> path`` for a root-owned admin file,
  to be passed as ``lamina.run(..., admin=path)`` or set for the whole test as
  ``lamina.admin = path`` (enable, disable or configure a plugin, set a policy for one test);
- ``subreaper``: makes the test process the subreaper the inits of `create`d containers need;
- ``temp_plugin``: a factory ``temp_plugin(name, source) -> directory`` that installs plugin
  source code as an entry point for this test only (the ``lamina`` runtime of the test finds
  it; nothing is pip-installed), e.g. a plugin under development or a recording plugin.

``Runtime`` also reads results back: ``state(id)``, ``inspect(id)`` (the audit record),
``check(bundle)``, ``plugins()`` and ``features()``.

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
        self.pythonpath: list[str] = []  # directories of plugins installed for this test

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
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(self.pythonpath + [p for p in [env.get("PYTHONPATH")] if p])
        return env

    def __call__(self, *args: str, admin: str | None = None, timeout: float = 60, input: bytes | None = None,
                 check: bool = False, **kw) -> subprocess.CompletedProcess:
        """Run one lamina command; returns the CompletedProcess (stdout/stderr as text)."""
        self._remember(args)
        kw.setdefault("stdin", None if input is not None else subprocess.DEVNULL)
        if "stdout" not in kw and "stderr" not in kw and kw.get("capture_output", True) \
                and _leaves_container_running(args):
            # the container inherits lamina's stdio: pipes would stay open (and this call would
            # block) until the container exits, so capture through files instead
            return self._call_via_files(args, admin, timeout, input, check, kw)
        if "stdout" not in kw and "stderr" not in kw:
            kw.setdefault("capture_output", True)
        p = subprocess.run(self.argv(*args), env=self.env(admin), timeout=timeout, input=input, **kw)
        if isinstance(p.stdout, bytes):
            p.stdout = p.stdout.decode(errors="replace")
            p.stderr = p.stderr.decode(errors="replace") if p.stderr is not None else ""
        if check and p.returncode != 0:
            raise AssertionError(f"lamina {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def _call_via_files(self, args, admin, timeout, input, check, kw) -> subprocess.CompletedProcess:
        kw.pop("capture_output", None)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(self.argv(*args), env=self.env(admin), timeout=timeout, input=input,
                               stdout=out, stderr=err, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout = out.read().decode(errors="replace")
            p.stderr = err.read().decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError(f"lamina {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def run(self, b: testing.Bundle, *extra: str, **kw) -> subprocess.CompletedProcess:
        """`lamina run --bundle B ID` in the foreground: the process's stdout, stderr, exit code.
        With ``-d``/``--detach`` the init keeps the runtime's stdio, so (as for `create`) the
        output is read back from temporary files unless the caller passes stdout/stderr."""
        if ("-d" in extra or "--detach" in extra) and not ({"stdout", "stderr", "capture_output"} & set(kw)):
            with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                p = self("run", "--bundle", b.path, *extra, b.id, stdout=out, stderr=err, **kw)
                out.seek(0)
                err.seek(0)
                p.stdout = out.read().decode(errors="replace")
                p.stderr = err.read().decode(errors="replace")
            return p
        return self("run", "--bundle", b.path, *extra, b.id, **kw)

    def create(self, b: testing.Bundle, *extra: str, **kw) -> subprocess.CompletedProcess:
        """`lamina create`. The init inherits the runtime's stdio and holds it until it exits, so
        pipes would never reach end-of-file: unless the caller passes stdout/stderr, the output
        is read back from temporary files instead."""
        if "stdout" in kw or "stderr" in kw or "capture_output" in kw:
            return self("create", "--bundle", b.path, *extra, b.id, **kw)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = self("create", "--bundle", b.path, *extra, b.id, stdout=out, stderr=err, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout = out.read().decode(errors="replace")
            p.stderr = err.read().decode(errors="replace")
        return p

    def state(self, cid: str) -> dict:
        import json

        p = self("state", cid)
        if p.returncode != 0:
            raise AssertionError(f"lamina state {cid}: {p.stderr}")
        return json.loads(p.stdout)

    def _json(self, *args: str, **kw):
        import json

        p = self(*args, **kw)
        if p.returncode != 0:
            raise AssertionError(f"lamina {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return json.loads(p.stdout)

    def inspect(self, cid: str, **kw) -> dict:
        """`lamina inspect --format json`: state plus the audit record (``["audit"]["applied"]``)."""
        return self._json("inspect", "--format", "json", cid, **kw)

    def check(self, b: testing.Bundle | str, **kw) -> tuple[int, list[str]]:
        """`lamina check --format json`: (exit code, problems)."""
        import json

        p = self("check", "--format", "json", b.path if isinstance(b, testing.Bundle) else b, **kw)
        try:
            return p.returncode, json.loads(p.stdout)["problems"]
        except ValueError:
            raise AssertionError(f"lamina check: {p.stderr}") from None

    def plugins(self, **kw) -> list[dict]:
        return self._json("plugins", "--format", "json", **kw)

    def features(self, **kw) -> dict:
        return self._json("features", **kw)

    def _remember(self, args: tuple[str, ...]) -> None:
        if args and args[0] in ("create", "run") and len(args) > 1:
            self.ids.add(args[-1])

    def cleanup(self) -> None:
        for cid in sorted(self.ids):
            p = subprocess.run(self.argv("delete", "--force", cid), env=self.env(), capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=60)
            if p.returncode != 0 and (self.admin or self.pythonpath):
                # the test's own admin file or plugin may be what fails: delete with the defaults
                subprocess.run(self.argv("delete", "--force", cid), capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=60,
                               env={k: v for k, v in os.environ.items() if k != "LAMINA_CONFIG"})
        self.ids.clear()


def _leaves_container_running(args: tuple[str, ...]) -> bool:
    """`create` and `run --detach` return while the container (holding their stdio) lives on."""
    if not args:
        return False
    if args[0] == "create":
        return True
    return args[0] == "run" and any(a in ("-d", "--detach") for a in args[1:-1])


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
    def make(text: str | dict) -> str:
        p = tmp_path / f"lamina-{len(list(tmp_path.iterdir()))}.toml"
        p.write_text(text if isinstance(text, str) else testing.toml_text(text))
        os.chmod(p, 0o644)
        return str(p)

    return make


@pytest.fixture
def subreaper() -> Iterator[None]:
    """This test process as a subreaper: the init of a container made with `create` is
    re-parented to it (as to conmon or a containerd shim); what exited is reaped afterwards."""
    from lamina import syscalls

    syscalls.set_subreaper()
    yield
    testing.reap_orphans()


@pytest.fixture
def temp_plugin(lamina: Runtime, tmp_path):
    """Factory: ``temp_plugin(name, source, dist=None, version="0.0.1") -> directory``. The source
    becomes an installed plugin (entry point ``name`` in group lamina.plugins) for this test's
    ``lamina`` runtime only; it must declare ``LAMINA_HOOK_API`` like any third-party plugin."""
    made = 0

    def make(name: str, source: str, dist: str | None = None, version: str = "0.0.1") -> str:
        nonlocal made
        made += 1
        directory = testing.install_plugin(str(tmp_path / f"plugins-{made}"), name, source, dist, version)
        lamina.pythonpath.append(directory)
        return directory

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
