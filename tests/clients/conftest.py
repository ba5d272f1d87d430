"""Fixtures of the client tests: podman (conmon), containerd (ctr) and dockerd drive lamina.

One private work directory per session under /var/tmp/lamina-clients, one private mount
namespace for every client and daemon (see clientkit), each daemon started once per session,
images imported once. The runtime each client calls is a wrapper that logs its argv: the calls
each client made are printed at the end of the session (and written to $LAMINA_CLIENT_CALLS if
that is set). Every scenario runs with lamina and, to prove the scenario itself, with runc.
"""

from __future__ import annotations

import os
import shutil

import clientkit
import pytest
from lamina import testing

RUNTIMES = ["lamina", "runc"]
_calls: dict[str, list[tuple[int, str]]] = {}


def _need(*binaries: str) -> None:
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (`make apt` installs the clients)")


class Session:
    """The session's work directory, mount namespace and runtime wrappers."""

    def __init__(self) -> None:
        os.makedirs(clientkit.TOP, exist_ok=True)
        self.dir = os.path.join(clientkit.TOP, f"s{os.getpid()}")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.cgroup_parent = f"/{testing.CGROUP_PARENT}/clients"
        self.ns = clientkit.PrivateMounts()
        self.lamina = _lamina_binary()
        self.runc = shutil.which("runc") or "/usr/sbin/runc"
        os.makedirs(f"{self.dir}/calls")
        os.makedirs(f"{self.dir}/bin")
        self._image: dict[str, str] = {}

    def wrapper(self, client: str, runtime: str, extra: list[str] | None = None) -> str:
        target = [self.lamina if runtime == "lamina" else self.runc, *(extra or [])]
        return clientkit.write_wrapper(f"{self.dir}/bin/{client}-{runtime}", target,
                                       self.log(client, runtime))

    def log(self, client: str, runtime: str) -> str:
        return f"{self.dir}/calls/{client}-{runtime}.log"

    def image(self, kind: str) -> str:
        """'rootfs': a tarball of the busybox rootfs; 'archive': a docker-archive of it."""
        if "rootfs" not in self._image:
            self._image["rootfs"] = clientkit.rootfs_tar(testing.busybox_rootfs(), f"{self.dir}/rootfs.tar")
        if kind == "archive" and "archive" not in self._image:
            self._image["archive"] = clientkit.docker_archive(self._image["rootfs"], f"{self.dir}/image.tar")
        return self._image[kind]

    def close(self) -> None:
        for name in sorted(os.listdir(f"{self.dir}/calls")):
            _calls[name.removesuffix(".log")] = clientkit.call_shapes(f"{self.dir}/calls/{name}", self.dir)
        self.ns.close()
        from lamina.testing.pytest_plugin import sweep_cgroups

        sweep_cgroups()
        testing.reap_orphans()
        if clientkit.host_mounts_below(self.dir):  # never expected: the mounts were all private
            raise RuntimeError(f"mounts left on the host below {self.dir}: not removing it")
        shutil.rmtree(self.dir, ignore_errors=True)


def _lamina_binary() -> str:
    from lamina.testing.pytest_plugin import _binary

    return os.path.abspath(_binary())


@pytest.fixture(scope="session")
def clients():
    if os.geteuid() != 0:
        pytest.skip("the clients need root")
    _need("unshare", "nsenter")
    s = Session()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def podman_session(clients):
    _need("podman", "conmon")
    # podman passes no --root to the runtime: the wrappers give each a private state root
    runtimes = {rt: clients.wrapper("podman", rt, ["--root", f"{clients.dir}/podman/{rt}-root"])
                for rt in RUNTIMES}
    pm = clientkit.Podman(clients.dir, clients.ns, runtimes, f"{clients.cgroup_parent}/podman")
    try:
        p = pm("import", clients.image("rootfs"), clientkit.IMAGE)
        assert p.returncode == 0, p.stderr
        yield pm
    finally:
        pm.close()


@pytest.fixture(scope="session")
def containerd_session(clients):
    _need("containerd", "ctr", "containerd-shim-runc-v2")
    cd = clientkit.Containerd(clients.dir, clients.ns)
    try:
        p = cd.ctr("images", "import", clients.image("archive"))
        assert p.returncode == 0, p.stderr
        yield cd
    finally:
        cd.close()


@pytest.fixture(scope="session")
def docker_session(clients, containerd_session):
    _need("dockerd")
    # "runc" is a reserved runtime name in dockerd: the logged runc is added under another
    runtimes = {"lamina": clients.wrapper("docker", "lamina"),
                "runc-logged": clients.wrapper("docker", "runc")}
    dk = clientkit.Docker(clients.dir, clients.ns, containerd_session, runtimes,
                          f"{clients.cgroup_parent}/docker")
    try:
        p = dk("import", clients.image("rootfs"), clientkit.IMAGE)
        assert p.returncode == 0, p.stderr
        yield dk
    finally:
        dk.close()


@pytest.fixture
def open_tmp(clients, request):
    """A fresh directory whose path anyone may traverse (pytest's tmp_path is below a 0700
    directory, which a container root mapped to another host uid cannot pass)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="t-", dir=clients.dir)
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=RUNTIMES)
def runtime(request) -> str:
    return request.param


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _calls:
        return
    lines = []
    for client, shapes in _calls.items():
        lines.append(f"{client}:")
        lines += [f"  {n:4d} x {shape}" for n, shape in shapes]
    terminalreporter.write_sep("-", "runtime calls the clients made (ids and paths abstracted)")
    for line in lines:
        terminalreporter.write_line(line)
    out = os.environ.get("LAMINA_CLIENT_CALLS")
    if out:
        with open(out, "w") as f:
            f.write("\n".join(lines) + "\n")
