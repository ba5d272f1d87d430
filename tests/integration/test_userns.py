"""User namespaces with real containers: maps written by the lamina process, root inside mapped to
an unprivileged host range, files owned by the mapped ids, setgroups as runc leaves it ("allow"
for a runtime with root, "deny" for one without), joining another container's user namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from lamina import testing
from lamina.testing import wait_for

pytestmark = pytest.mark.integration

BASE = 100000
SIZE = 65536


@pytest.fixture
def ubundle():
    """Like the `bundle` fixture, but under a directory the mapped ids may traverse (pytest's own
    tmp directories are root's alone, and the container's root is not root on the host)."""
    parent = tempfile.mkdtemp(prefix="userns-", dir=testing.CACHE)
    os.chmod(parent, 0o755)

    def make(args: list[str] | None = None) -> testing.Bundle:
        return testing.make_bundle(parent, args=args)

    make.parent = parent
    yield make
    shutil.rmtree(parent, ignore_errors=True)


def mapped(b: testing.Bundle, base: int = BASE, size: int = SIZE) -> testing.Bundle:
    """Container root -> host `base`, with the rootfs copy owned by it (as an image unpacked for
    that range would be)."""
    b.config["linux"]["namespaces"].append({"type": "user"})
    b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": base, "size": size}]
    b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": base, "size": size}]
    subprocess.run(["chown", "-R", "-h", f"{base}:{base}", b.rootfs], check=True)
    return b.write()


def host_ids(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    return int(status["Uid"].split()[0]), int(status["Gid"].split()[0])


def test_root_inside_is_an_unprivileged_host_uid(lamina, ubundle, subreaper):
    b = mapped(ubundle(["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map;"
                                   " touch /tmp/made-inside; mkdir /tmp/dir-inside; exec sleep 30"]))
    out = b.path + "/out"
    with open(out, "w") as f:
        assert lamina.create(b, stdout=f, stderr=subprocess.STDOUT).returncode == 0, open(out).read()
    pid = lamina.state(b.id)["pid"]
    assert lamina("start", b.id).returncode == 0
    assert wait_for(lambda: os.path.exists(os.path.join(b.rootfs, "tmp/dir-inside")))
    lines = open(out).read().split("\n")
    assert lines[:2] == ["0", "0"]
    assert lines[2].split() == ["0", str(BASE), str(SIZE)] and lines[3].split() == ["0", str(BASE), str(SIZE)]
    # the host sees the container's root as the mapped, unprivileged uid
    assert host_ids(pid) == (BASE, BASE)
    for name in ("tmp/made-inside", "tmp/dir-inside"):
        st = os.lstat(os.path.join(b.rootfs, name))
        assert (st.st_uid, st.st_gid) == (BASE, BASE)


def test_a_non_root_user_inside_maps_into_the_range(lamina, ubundle, subreaper):
    b = mapped(ubundle(["sh", "-c", "id -u; touch /tmp/by-user; exec sleep 30"]))
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    b.write()
    with open(b.path + "/out", "w") as f:
        assert lamina.create(b, stdout=f, stderr=subprocess.STDOUT).returncode == 0
    pid = lamina.state(b.id)["pid"]
    assert lamina("start", b.id).returncode == 0
    assert wait_for(lambda: os.path.exists(os.path.join(b.rootfs, "tmp/by-user")))
    assert open(b.path + "/out").read() == "1000\n"
    assert host_ids(pid) == (BASE + 1000, BASE + 1000)
    st = os.lstat(os.path.join(b.rootfs, "tmp/by-user"))
    assert (st.st_uid, st.st_gid) == (BASE + 1000, BASE + 1000)


def test_root_runtime_leaves_setgroups_allow_and_additional_gids_work(lamina, ubundle):
    b = mapped(ubundle(["sh", "-c", "cat /proc/self/setgroups; id -G"]))
    b.config["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [5, 1000]}
    p = lamina.run(b.write())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["allow", "0", "5", "1000"]


def test_unmapped_ids_are_nobody(lamina, ubundle):
    # a host file owned by an id outside the map shows as the overflow id (65534)
    b = mapped(ubundle(["stat", "-c", "%u %g", "/etc/outside"]))
    path = os.path.join(b.rootfs, "etc/outside")
    open(path, "w").close()
    os.chown(path, 4242, 4242)
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["65534", "65534"]


def test_user_outside_the_map_is_refused(lamina, ubundle):
    b = mapped(ubundle(["true"]), size=1000)
    b.config["process"]["user"] = {"uid": 5000, "gid": 5000}
    p = lamina.run(b.write())
    assert p.returncode == 1
    assert "process.user: cannot become uid 5000 gid 5000: invalid argument" in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_maps_need_a_user_namespace_and_vice_versa(lamina, ubundle):
    b = ubundle(["true"])
    b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": BASE, "size": 1}]
    b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": BASE, "size": 1}]
    p = lamina.run(b.write())
    assert p.returncode == 1 and "id mappings need a new user namespace" in p.stderr
    b = ubundle(["true"])
    b.config["linux"]["namespaces"].append({"type": "user"})
    p = lamina.run(b.write())
    assert p.returncode == 1 and "a new user namespace needs both uidMappings and gidMappings" in p.stderr


def test_overlapping_maps_are_refused_by_the_kernel_clearly(lamina, ubundle):
    b = mapped(ubundle(["true"]))
    b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": BASE, "size": 10},
                                        {"containerID": 5, "hostID": BASE + 100, "size": 10}]
    p = lamina.run(b.write())
    assert p.returncode == 1
    assert "linux.uidMappings: cannot write /proc/" in p.stderr and "invalid argument" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_join_another_containers_user_namespace(lamina, ubundle, subreaper):
    a = mapped(ubundle(["sleep", "60"]))
    assert lamina.create(a).returncode == 0
    pid = lamina.state(a.id)["pid"]
    b = ubundle(["sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user"])
    subprocess.run(["chown", "-R", "-h", f"{BASE}:{BASE}", b.rootfs], check=True)
    # joined: no maps of our own (the namespace has them already)
    b.config["linux"]["namespaces"].append({"type": "user", "path": f"/proc/{pid}/ns/user"})
    p = lamina.run(b.write())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(BASE), str(SIZE)]
    assert lines[2] == os.readlink(f"/proc/{pid}/ns/user")


# ------------------------------------------------------------------ a runtime without root


RUNTIME_UID = 100000


@pytest.fixture
def rootless(ubundle):
    """Run lamina as the unprivileged host uid RUNTIME_UID (no cgroups: it may not make any)."""
    root = os.path.join(ubundle.parent, "state")
    os.mkdir(root)
    os.chown(root, RUNTIME_UID, RUNTIME_UID)
    admin = os.path.join(ubundle.parent, "lamina.toml")
    with open(admin, "w") as f:
        f.write("[plugins]\ndisable = [\"cgroups\"]\n")
    os.chmod(admin, 0o644)
    made = []

    def run(b: testing.Bundle) -> subprocess.CompletedProcess:
        made.append(b.id)
        env = dict(os.environ, LAMINA_CONFIG=admin, HOME=ubundle.parent)
        return subprocess.run([lamina_bin(), "--root", root, "run", "--bundle", b.path, b.id],
                              env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              user=RUNTIME_UID, group=RUNTIME_UID, extra_groups=[], timeout=60)

    yield run
    for cid in made:
        subprocess.run([lamina_bin(), "--root", root, "delete", "--force", cid], capture_output=True,
                       user=RUNTIME_UID, group=RUNTIME_UID, extra_groups=[],
                       env=dict(os.environ, LAMINA_CONFIG=admin))
        assert not os.path.exists(os.path.join(root, cid))


def lamina_bin() -> str:
    import sys

    return os.path.join(os.path.dirname(sys.executable), "lamina")


def rootless_bundle(ubundle, args: list[str]) -> testing.Bundle:
    b = ubundle(args)
    cfg = b.config
    cfg["linux"].pop("cgroupsPath", None)
    cfg["linux"].pop("resources", None)
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": RUNTIME_UID, "size": 1}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": RUNTIME_UID, "size": 1}]
    # devpts' gid=5 does not exist in a one-id namespace; the cgroup mount needs cgroups
    cfg["mounts"] = [dict(m, options=[o for o in m.get("options", []) if o != "gid=5"])
                     for m in cfg["mounts"] if m["type"] != "cgroup"]
    os.chmod(b.path, 0o755)
    subprocess.run(["chown", "-R", "-h", f"{RUNTIME_UID}:{RUNTIME_UID}", b.rootfs], check=True)
    return b.write()


def test_runtime_without_root_writes_setgroups_deny(ubundle, rootless):
    b = rootless_bundle(ubundle, ["sh", "-c", "cat /proc/self/setgroups; id -u; cat /proc/self/uid_map"])
    p = rootless(b)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "deny"  # as runc: the kernel lets an unprivileged writer map gids only so
    assert lines[1] == "0"
    assert lines[2].split() == ["0", str(RUNTIME_UID), "1"]


def test_runtime_without_root_refuses_additional_gids_clearly(ubundle, rootless):
    b = rootless_bundle(ubundle, ["true"])
    b.config["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [0]}
    p = rootless(b.write())
    assert p.returncode == 1
    assert "process.user.additionalGids: cannot set supplementary groups" in p.stderr
    assert "setgroups \"deny\"" in p.stderr


def test_runtime_without_root_cannot_map_other_ids(ubundle, rootless):
    b = rootless_bundle(ubundle, ["true"])
    b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    p = rootless(b.write())
    assert p.returncode == 1
    assert "linux.uidMappings: cannot write /proc/" in p.stderr and "operation not permitted" in p.stderr
