"""The selinux plugin with real containers.

Two halves. On a host where SELinux is disabled (the team's machines): labels are ignored with
a debug message, unless the admin file requires SELinux; `features` says it is off. On an
enforcing host (the test VM, tests/vm: these are marked ``selinux`` and run there from
tests/integration/test_vm.py): the container process really runs in its label, the mounts carry
the mount label, the session keyring the process label, and a label the policy refuses fails
`create` with a clear error and nothing left behind.

In the VM the rootfs is labelled ``container_file_t`` with the test's categories: ``container_t``
can be entered only by executing such a file. A confined container cannot write to the pipes
the unconfined runtime gives it, so results come back through files in its (labelled) rootfs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from lamina import syscalls

pytestmark = pytest.mark.integration

PROCESS = "system_u:system_r:container_t:s0:c1,c2"
FILES = "system_u:object_r:container_file_t:s0:c1,c2"


def selinux_enabled() -> bool:
    try:
        import selinux
    except ImportError:
        return os.path.exists("/sys/fs/selinux/enforce")
    return selinux.is_selinux_enabled() == 1


def enforcing() -> bool:
    try:
        with open("/sys/fs/selinux/enforce") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


needs_disabled = pytest.mark.skipif(selinux_enabled(), reason="SELinux is enabled on this host")
needs_enforcing = pytest.mark.skipif(not enforcing(), reason="needs SELinux enforcing (runs in the test VM)")


def features(lamina) -> dict:
    p = lamina("features", check=True)
    return json.loads(p.stdout)


def no_state_left(lamina, cid: str) -> None:
    assert not os.path.exists(os.path.join(lamina.root, cid)), "state directory left behind"
    listed = lamina("list", "--format", "json")
    assert cid not in listed.stdout


# ---------------------------------------------------------------- SELinux disabled


@needs_disabled
def test_features_says_disabled(lamina):
    assert features(lamina)["linux"]["selinux"] == {"enabled": False}


@needs_disabled
def test_labels_ignored_with_debug_message(lamina, bundle):
    b = bundle(["/bin/sh", "-c", "echo ran"])
    b.config["process"]["selinuxLabel"] = PROCESS
    b.config["linux"]["mountLabel"] = FILES
    b.write()
    p = lamina("--debug", "run", "--bundle", b.path, b.id)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ran"
    assert "SELinux is disabled on this host; ignoring process.selinuxLabel" in p.stderr
    assert PROCESS in p.stderr
    # not a warning: without --debug nothing is said
    b2 = bundle(["/bin/true"])
    b2.config["process"]["selinuxLabel"] = PROCESS
    b2.write()
    p = lamina.run(b2)
    assert p.returncode == 0 and "selinux" not in p.stderr.lower(), p.stderr


@needs_disabled
def test_required_by_admin_refuses(lamina, bundle, admin_file):
    admin = admin_file("[plugin.selinux]\nrequired = true\n")
    b = bundle(["/bin/true"])
    b.config["process"]["selinuxLabel"] = PROCESS
    b.write()
    p = lamina.create(b, admin=admin)
    assert p.returncode == 1
    assert ("process.selinuxLabel: SELinux is disabled on this host, but the admin file requires it"
            in p.stderr)
    assert "Traceback" not in p.stderr
    no_state_left(lamina, b.id)
    # required means required: a config without labels is refused as well
    b2 = bundle(["/bin/true"])
    p = lamina.create(b2, admin=admin)
    assert p.returncode == 1 and "requires it" in p.stderr
    no_state_left(lamina, b2.id)
    # and without the setting the same config runs
    assert lamina.run(b, admin=admin_file("[plugin.selinux]\nrequired = false\n")).returncode == 0


@needs_disabled
def test_bad_admin_setting_is_an_error(lamina, bundle, admin_file):
    b = bundle(["/bin/true"])
    p = lamina.create(b, admin=admin_file("[plugin.selinux]\nrequried = true\n"))
    assert p.returncode == 1 and "plugin.selinux.requried: unknown setting" in p.stderr
    p = lamina.create(b, admin=admin_file('[plugin.selinux]\nrequired = "yes"\n'))
    assert p.returncode == 1 and "plugin.selinux.required: must be a bool" in p.stderr
    no_state_left(lamina, b.id)


# ---------------------------------------------------------------- SELinux enforcing (the VM)


def chcon(path: str, context: str) -> None:
    subprocess.run(["chcon", "-R", "-h", context, path], check=True)


def labelled_bundle(bundle, args: list[str], level: str = "s0:c1,c2"):
    """A bundle whose rootfs is container_file_t with ``level``, ready for container_t."""
    b = bundle(args)
    chcon(b.rootfs, f"system_u:object_r:container_file_t:{level}")
    return b


def getcon(path: str) -> str:
    return os.getxattr(path, "security.selinux").rstrip(b"\0").decode()


def read(path: str) -> str:
    with open(path) as f:
        return f.read().replace("\0", "").strip()


def start_and_read(lamina, b, name: str, timeout: float = 60) -> str:
    """`start` a created container and wait for the file it writes as its last act."""
    assert lamina("start", b.id).returncode == 0
    path = os.path.join(b.rootfs, name)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    return read(path)


@pytest.mark.selinux
@needs_enforcing
def test_host_is_enforcing(lamina):
    getenforce = subprocess.run(["getenforce"], capture_output=True, text=True).stdout.strip()
    print(f"getenforce: {getenforce}")
    assert getenforce == "Enforcing"
    assert features(lamina)["linux"]["selinux"] == {"enabled": True}


@pytest.mark.selinux
@needs_enforcing
def test_process_runs_with_its_label(lamina, bundle):
    b = labelled_bundle(bundle, ["/bin/sh", "-c", "cat /proc/self/attr/current > /tmp/l; mv /tmp/l /label"])
    b.config["process"]["selinuxLabel"] = PROCESS
    b.write()
    p = lamina.create(b)
    assert p.returncode == 0, p.stderr
    assert start_and_read(lamina, b, "label") == PROCESS
    # and a second container with other categories gets exactly those
    b2 = labelled_bundle(bundle, ["/bin/sh", "-c", "cat /proc/self/attr/current > /tmp/l; mv /tmp/l /label"],
                         "s0:c7,c9")
    b2.config["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0:c7,c9"
    b2.write()
    assert lamina.create(b2).returncode == 0
    assert start_and_read(lamina, b2, "label") == "system_u:system_r:container_t:s0:c7,c9"


@pytest.mark.selinux
@needs_enforcing
def test_mounts_and_created_files_carry_the_mount_label(lamina, bundle):
    b = labelled_bundle(bundle, ["/bin/sh", "-c", "grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/self/mountinfo "
                                 "> /mounts; cat /proc/self/attr/current > /tmp/l; mv /tmp/l /label"])
    b.config["process"]["selinuxLabel"] = PROCESS
    b.config["process"]["cwd"] = "/made/by/lamina"  # a directory the runtime creates
    b.config["linux"]["mountLabel"] = FILES
    b.write()
    p = lamina.create(b)
    assert p.returncode == 0, p.stderr
    pid = lamina.state(b.id)["pid"]
    root = f"/proc/{pid}/root"
    for dest in ("/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"):
        assert getcon(root + dest) == FILES, dest
    # files the runtime made: device nodes, /dev links, the cwd it had to create
    assert getcon(root + "/dev/null") == FILES
    assert getcon(os.path.join(b.rootfs, "made/by/lamina")) == FILES
    # proc and sysfs keep the policy's labels
    assert "container_file_t" not in getcon(root + "/proc")
    assert start_and_read(lamina, b, "label") == PROCESS
    # seen from inside: the kernel lists the context= option of each labelled mount (mqueue
    # takes none: its root was relabelled, checked above)
    mounts = read(os.path.join(b.rootfs, "mounts"))
    for dest in ("/dev", "/dev/pts", "/dev/shm"):
        line = [ln for ln in mounts.splitlines() if f" {dest} " in ln]
        assert line and f'context="{FILES}"' in line[0], (dest, mounts)


@pytest.mark.selinux
@needs_enforcing
def test_session_keyring_gets_the_process_label(lamina, bundle):
    b = labelled_bundle(bundle, ["/bin/true"])
    b.config["process"]["selinuxLabel"] = PROCESS
    b.write()
    assert lamina.create(b).returncode == 0
    with open("/proc/keys") as f:
        keys = [ln.split() for ln in f if f" _ses.{b.id}:" in ln]
    assert keys, "no session keyring for the container"
    assert syscalls.keyctl_get_security(int(keys[0][0], 16)) == PROCESS


@pytest.mark.selinux
@needs_enforcing
def test_label_the_policy_forbids_fails_create(lamina, bundle):
    b = labelled_bundle(bundle, ["/bin/true"])
    b.config["process"]["selinuxLabel"] = "system_u:system_r:init_t:s0"  # not entered by container files
    b.write()
    p = lamina.create(b)
    assert p.returncode == 1
    msg = p.stderr.strip()
    assert "process.selinuxLabel: system_u:system_r:init_t:s0 cannot run /bin/true" in msg, msg
    assert "file { entrypoint }" in msg, msg
    assert "Traceback" not in msg and len(msg.splitlines()) == 1
    no_state_left(lamina, b.id)


@pytest.mark.selinux
@needs_enforcing
def test_categories_not_matching_the_rootfs_fail_create(lamina, bundle):
    b = labelled_bundle(bundle, ["/bin/true"], "s0:c1,c2")
    b.config["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0:c3,c4"
    b.write()
    p = lamina.create(b)
    assert p.returncode == 1
    msg = p.stderr.strip()
    assert "cannot run /bin/true" in msg and "does not dominate" in msg, msg
    assert "lacks categories c1,c2" in msg, msg
    no_state_left(lamina, b.id)


@pytest.mark.selinux
@needs_enforcing
def test_context_unknown_to_the_policy_is_refused(lamina, bundle):
    b = labelled_bundle(bundle, ["/bin/true"])
    b.config["process"]["selinuxLabel"] = "system_u:system_r:no_such_t:s0"
    b.config["linux"]["mountLabel"] = "bogus"
    b.write()
    p = lamina.create(b)
    assert p.returncode == 1
    assert "process.selinuxLabel: 'system_u:system_r:no_such_t:s0' is not a valid context" in p.stderr
    assert "linux.mountLabel: 'bogus' is not an SELinux context" in p.stderr
    no_state_left(lamina, b.id)


@pytest.mark.selinux
@needs_enforcing
def test_exec_runs_with_the_process_label(lamina, bundle):
    b = labelled_bundle(bundle, ["/bin/sleep", "120"])
    b.config["process"]["selinuxLabel"] = PROCESS
    b.write()
    assert lamina.create(b).returncode == 0
    assert lamina("start", b.id).returncode == 0
    # the container's label by default, --process-label's when given
    p = lamina("exec", b.id, "/bin/sh", "-c", "cat /proc/self/attr/current > /tmp/l; mv /tmp/l /exec1")
    assert p.returncode == 0, p.stderr
    assert read(os.path.join(b.rootfs, "exec1")) == PROCESS
    other = "system_u:system_r:container_t:s0:c1,c2,c5"
    p = lamina("exec", "--process-label", other, b.id, "/bin/sh", "-c",
               "cat /proc/self/attr/current > /tmp/l; mv /tmp/l /exec2")
    assert p.returncode == 0, p.stderr
    assert read(os.path.join(b.rootfs, "exec2")) == other
    # a label that cannot run the container's files: a clear error before anything runs
    p = lamina("exec", "--process-label", "system_u:system_r:container_t:s0:c3", b.id, "/bin/true")
    assert p.returncode == 255
    assert "process.selinuxLabel: system_u:system_r:container_t:s0:c3 cannot run /bin/true" in p.stderr
