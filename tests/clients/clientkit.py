"""The machinery of the client tests: a private mount namespace, logging runtime wrappers, local
images, and podman / containerd / dockerd set up with private data roots and sockets.

Everything the clients and daemons mount (podman's overlay rootfs, containerd's snapshots, the
containers' own mounts) happens in one mount namespace of our own, made with
``unshare -m --propagation private`` and kept alive by a sleeping holder process; every client
command and daemon is started in it with nsenter. Nothing leaks to the host, and when the
session ends every process in that namespace (all of them started by us) is killed by pid, so
the namespace and its mounts go away with them.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
import uuid

IMAGE = "localhost/busybox:lamina"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOP = "/var/tmp/lamina-clients"


# ---------------------------------------------------------------------- images


def rootfs_tar(rootfs: str, dest: str) -> str:
    """A tarball of `rootfs` (the test kit's marker file left out), owned by root."""
    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if info.name == "./.complete":
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(dest, "w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(rootfs, arcname=".", filter=reset)
    os.chmod(dest, 0o644)
    return dest


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def docker_archive(layer_tar: str, dest: str, ref: str = IMAGE) -> str:
    """An image archive in the shape `docker save` writes (manifest.json, the image config, one
    uncompressed layer), with `layer_tar` as its layer: what `ctr image import` loads."""
    diff_id = _sha256(layer_tar)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created_by": "lamina tests/clients: busybox rootfs"}],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    repo, tag = ref.rsplit(":", 1)
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [f"{diff_id}/layer.tar"]}]

    def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(dest, "w") as tar:
        tar.add(layer_tar, arcname=f"{diff_id}/layer.tar")
        add_bytes(tar, config_name, config_bytes)
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        add_bytes(tar, "repositories", json.dumps({repo: {tag: diff_id}}).encode())
    os.chmod(dest, 0o644)
    return dest


# ---------------------------------------------------------------------- the private mount namespace


def _mnt_ns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


class PrivateMounts:
    """A mount namespace (private propagation) held open by a sleeping process of ours."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "infinity"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        mine = _mnt_ns("self")
        deadline = time.monotonic() + 10
        while _mnt_ns(self.proc.pid) in (mine, None):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("unshare -m --propagation private did not start")
            time.sleep(0.01)
        self.ns = _mnt_ns(self.proc.pid)

    def argv(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--mount=/proc/{self.proc.pid}/ns/mnt", "--", *argv]

    def members(self) -> list[int]:
        """Every process in the namespace but the holder: all started by us (clients, daemons,
        shims, conmons, containers whose mount namespace was cloned from it are not members)."""
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != self.proc.pid and _mnt_ns(name) == self.ns:
                out.append(int(name))
        return out

    def close(self) -> list[int]:
        """Kill what is left in the namespace (by pid), then the holder; returns the killed pids."""
        killed = []
        for _ in range(3):
            left = self.members()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        self.proc.kill()
        self.proc.wait(timeout=10)
        return killed


# ---------------------------------------------------------------------- runtime wrappers and their logs


def write_wrapper(path: str, target: list[str], log: str) -> str:
    """A runtime binary for a client config: appends the cwd and argv of each call to `log`,
    then execs the real runtime (so pids, fds, signals and exit codes are the runtime's)."""
    quoted = " ".join(f"'{t}'" for t in target)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n# tests/clients: log the call, then become the real runtime\n"
                "{ printf '%s' \"$(pwd)\"; for a; do printf ' %s' \"$a\"; done; printf '\\n'; }"
                f" >> '{log}'\n"
                f"exec {quoted} \"$@\"\n")
    os.chmod(path, 0o755)
    return path


_HEX = re.compile(r"\b[0-9a-f]{64}\b")
_TEST_ID = re.compile(r"\blc-[0-9a-f]{10}\b")


def call_shapes(log: str, workdir: str) -> list[tuple[int, str]]:
    """The distinct calls in a wrapper's log, ids and paths abstracted, with their counts."""
    shapes: collections.Counter[str] = collections.Counter()
    order: list[str] = []
    try:
        with open(log) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        words = line.split(" ")[1:]  # the cwd first
        out = []
        for w in words:
            w = _HEX.sub("<id>", _TEST_ID.sub("<id>", w))
            if w.startswith("--") and "=" in w:
                flag, _, value = w.partition("=")
                w = f"{flag}=<path>" if "/" in value else w
            elif "/" in w:
                w = "<path>"
            out.append(w)
        shape = " ".join(out)
        if shape not in shapes:
            order.append(shape)
        shapes[shape] += 1
    return [(shapes[s], s) for s in order]


# ---------------------------------------------------------------------- clients


def new_name() -> str:
    """A unique container name (the call logs abstract it as <id>)."""
    return f"lc-{uuid.uuid4().hex[:10]}"


def run(argv: list[str], *, env: dict | None = None, input: bytes | str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one client command; stdout and stderr as text (undecodable bytes replaced)."""
    p = subprocess.run(argv, env=env, input=input.encode() if isinstance(input, str) else input,
                       stdin=None if input is not None else subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    p.stdout_bytes = p.stdout
    p.stdout = p.stdout.decode(errors="replace")
    p.stderr = p.stderr.decode(errors="replace")
    return p


def wait_socket(path: str, proc: subprocess.Popen, log: str, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(log, errors="replace") as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f"{what} did not come up (exit {proc.poll()}):\n{tail}")
        time.sleep(0.05)


def stop_daemon(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Podman:
    """podman (with conmon) on private storage; runtimes named in its own containers.conf."""

    def __init__(self, workdir: str, ns: PrivateMounts, runtimes: dict[str, str], cgroup_parent: str) -> None:
        self.dir = os.path.join(workdir, "podman")
        self.ns = ns
        self.cgroup_parent = cgroup_parent
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "containers.conf")
        entries = "\n".join(f'{name} = ["{path}"]' for name, path in runtimes.items())
        names = ", ".join(f'"{n}"' for n in runtimes)
        with open(self.conf, "w") as f:
            # root lacks CAP_SYS_RESOURCE here: podman's default rlimits (1048576) cannot be set
            # by any runtime; no network backend is used (netavark would change the host's iptables)
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                    'netns = "none"\n\n'
                    f'[engine]\nruntime = "lamina"\nruntime_supports_json = [{names}]\n'
                    'cgroup_manager = "cgroupfs"\nevents_logger = "file"\n\n'
                    f"[engine.runtimes]\n{entries}\n")
        self.env = {**os.environ, "CONTAINERS_CONF": self.conf}

    def argv(self, *args: str, runtime: str | None = None) -> list[str]:
        g = ["podman", "--root", f"{self.dir}/storage", "--runroot", f"{self.dir}/runroot",
             "--tmpdir", f"{self.dir}/tmp", "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
             "--events-backend", "file"]
        if runtime:
            g += ["--runtime", runtime]
        args = list(args)
        if args and args[0] in ("run", "create"):
            args[1:1] = ["--cgroup-parent", self.cgroup_parent]
        return self.ns.argv(g + args)

    def __call__(self, *args: str, runtime: str | None = None, input=None, timeout: float = 120):
        return run(self.argv(*args, runtime=runtime), env=self.env, input=input, timeout=timeout)

    def close(self) -> None:
        self("rm", "--all", "--force", "--time", "0", timeout=120)


class Containerd:
    """containerd with its own root, state and sockets (the CRI plugin off: no CNI here)."""

    def __init__(self, workdir: str, ns: PrivateMounts) -> None:
        self.dir = d = os.path.join(workdir, "containerd")
        self.ns = ns
        os.makedirs(d, exist_ok=True)
        self.sock = f"{d}/containerd.sock"
        self.fifo_dir = f"{d}/fifo"
        self.runc_root = f"{d}/runc-root"
        cfg = f"{d}/config.toml"
        off = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
               "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
               "io.containerd.snapshotter.v1.aufs",
               "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
        with open(cfg, "w") as f:
            f.write(f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
                    f"disabled_plugins = {json.dumps(off)}\n"
                    f'[grpc]\n  address = "{self.sock}"\n[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
                    f'[debug]\n  address = "{d}/debug.sock"\n'
                    f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{d}/opt"\n')
        self.log = f"{d}/containerd.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(ns.argv(["containerd", "--config", cfg]), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        wait_socket(self.sock, self.proc, self.log, "containerd")
        for _ in range(100):  # the socket exists a moment before it serves
            if self.ctr("version").returncode == 0:
                break
            time.sleep(0.1)

    def ctr(self, *args: str, namespace: str = "lamina", input=None, timeout: float = 120):
        return run(self.ns.argv(["ctr", "--address", self.sock, "--namespace", namespace, *args]),
                   input=input, timeout=timeout)

    def close(self) -> None:
        for namespace in ("lamina", "moby"):
            tasks = self.ctr("tasks", "ls", "--quiet", namespace=namespace).stdout.split()
            for t in tasks:
                self.ctr("tasks", "kill", "--signal", "SIGKILL", t, namespace=namespace)
            for t in tasks:
                for _ in range(50):
                    if self.ctr("tasks", "delete", "--force", t, namespace=namespace).returncode == 0:
                        break
                    time.sleep(0.1)
            for c in self.ctr("containers", "ls", "--quiet", namespace=namespace).stdout.split():
                self.ctr("containers", "delete", c, namespace=namespace)
        stop_daemon(self.proc)


class Docker:
    """dockerd on our containerd: no iptables, no bridge, vfs storage, lamina added as a runtime."""

    def __init__(self, workdir: str, ns: PrivateMounts, containerd: Containerd, runtimes: dict[str, str],
                 cgroup_parent: str) -> None:
        self.dir = d = os.path.join(workdir, "docker")
        os.makedirs(f"{d}/cli", exist_ok=True)
        self.sock = f"{d}/docker.sock"
        with open(f"{d}/daemon.json", "w") as f:
            f.write("{}\n")  # never the host's /etc/docker/daemon.json
        argv = ["dockerd", "--config-file", f"{d}/daemon.json", "--data-root", f"{d}/data",
                "--exec-root", f"{d}/exec", "--pidfile", f"{d}/docker.pid", "-H", f"unix://{self.sock}",
                "--containerd", containerd.sock, "--iptables=false", "--ip6tables=false",
                "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                "--userland-proxy=false", "--storage-driver=vfs",
                "--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", cgroup_parent]
        for name, path in runtimes.items():
            argv += ["--add-runtime", f"{name}={path}"]
        self.log = f"{d}/dockerd.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(ns.argv(argv), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_socket(self.sock, self.proc, self.log, "dockerd")
        # Debian's client speaks this daemon's API; a newer client elsewhere on PATH may not
        debian = "/usr/bin/docker"
        self.cli = debian if os.path.exists(debian) else shutil.which("docker") or "docker"
        self.env = {**os.environ, "DOCKER_CONFIG": f"{d}/cli"}
        self.env.pop("DOCKER_HOST", None)
        for _ in range(200):
            if self("version").returncode == 0:
                break
            time.sleep(0.1)

    def __call__(self, *args: str, input=None, timeout: float = 120):
        return run([self.cli, "-H", f"unix://{self.sock}", *args], env=self.env, input=input, timeout=timeout)

    def close(self) -> None:
        ids = self("ps", "--all", "--quiet").stdout.split()
        if ids:
            self("rm", "--force", *ids)
        stop_daemon(self.proc)


def host_mounts_below(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path.rstrip("/") + "/")]
