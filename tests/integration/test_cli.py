"""The command line: global flags, every verb of issue 2, exit codes and the wording clients match.

Each test drives the installed `lamina` binary against real containers (busybox bundles, root).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
from lamina.testing import wait_for

# the kit's subreaper fixture: container inits are re-parented to the test, and reaped after it
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("subreaper")]


def status(lamina, cid: str) -> str:
    return lamina.state(cid)["status"]


def gone(pid: int) -> bool:
    """The process has exited (a zombie not reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except FileNotFoundError:
        return True
    return data[data.rindex(")") + 2] == "Z"


def no_traceback(p) -> None:
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr


# ---------------------------------------------------------------------------------- global flags


def test_root_defaults_to_run_lamina(lamina):
    p = subprocess.run([lamina.binary, "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    assert "--root" in p.stdout and "/run/lamina" in p.stdout


def test_root_holds_the_state(lamina, bundle, tmp_path):
    root = str(tmp_path / "a" / "root")  # made on first use, like runc's
    b = bundle(["sleep", "100"])
    with open(tmp_path / "err", "w") as err:
        p = subprocess.run([lamina.binary, "--root", root, "create", "--bundle", b.path, b.id],
                           stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    p.stderr = (tmp_path / "err").read_text()
    try:
        assert p.returncode == 0, p.stderr
        assert os.path.isfile(os.path.join(root, b.id, "state.json"))
        assert not os.path.exists(os.path.join(lamina.root, b.id))
        other = lamina("state", b.id)  # the fixture's root does not know it
        assert other.returncode == 1 and "does not exist" in other.stderr
        q = subprocess.run([lamina.binary, "--root", root, "list", "-q"], capture_output=True, text=True)
        assert q.stdout.split() == [b.id]
    finally:
        subprocess.run([lamina.binary, "--root", root, "delete", "--force", b.id], capture_output=True)
    assert os.listdir(root) == []


@pytest.mark.parametrize("flags", [
    ["--log-format=json"], ["--log-format", "json"], ["--log-format", "text"], ["--debug"],
    ["--rootless", "true"], ["--rootless=false"], ["--rootless", "auto"],
])
def test_global_flags_before_the_verb(lamina, tmp_path, flags):
    log = str(tmp_path / "log")
    p = subprocess.run([lamina.binary, "--root", lamina.root, "--log", log, *flags, "list", "-q"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    no_traceback(p)


def test_bad_global_flag_values(lamina):
    for flags in (["--log-format", "xml"], ["--rootless", "maybe"]):
        p = subprocess.run([lamina.binary, *flags, "list"], capture_output=True, text=True)
        assert p.returncode == 1 and "invalid value for" in p.stderr, p.stderr
        no_traceback(p)


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("cgroups_path", ["", "system.slice:lamina:x"])
def test_systemd_cgroup_is_refused_for_create_and_run(lamina, bundle, verb, cgroups_path):
    """The flag parses before the verb; the driver is not there (yet): one clear line, nothing left.
    (The exact wording belongs to lamina.cgroupdriver.)"""
    b = bundle(["true"])
    if cgroups_path:
        b.config["linux"]["cgroupsPath"] = cgroups_path
        b.write()
    p = subprocess.run(lamina.argv("--systemd-cgroup", verb, "--bundle", b.path, b.id),
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    lamina.ids.add(b.id)
    assert p.returncode == 1
    assert "systemd" in p.stderr and "cgroupfs" in p.stderr or "slice:prefix:name" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    no_traceback(p)
    assert not os.path.exists(os.path.join(lamina.root, b.id))


def test_usage_errors_exit_1_with_one_line(lamina):
    for args, words in ((["bogus"], "no such command"), (["state"], "state: missing argument"),
                        (["kill", "x", "-9"], "kill: no such option"), (["state", "a", "b"], "unexpected")):
        p = lamina(*args)
        assert p.returncode == 1, (args, p.returncode)
        assert words in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and p.stdout == ""
        no_traceback(p)


# ---------------------------------------------------------------------------------- spec


def _key_paths(o, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(o, dict):
        for k, v in o.items():
            out.add(f"{prefix}.{k}")
            out |= _key_paths(v, f"{prefix}.{k}")
    elif isinstance(o, list):
        for v in o:
            out |= _key_paths(v, prefix + "[]")
    return out


@pytest.mark.skipif(not shutil.which("runc"), reason="runc is not installed")
@pytest.mark.parametrize("rootless", [False, True])
def test_spec_has_runcs_shape(lamina, tmp_path, rootless):
    extra = ["--rootless"] if rootless else []
    (tmp_path / "runc").mkdir()
    (tmp_path / "lamina").mkdir()
    subprocess.run(["runc", "spec", *extra], cwd=tmp_path / "runc", check=True)
    p = subprocess.run([lamina.binary, "spec", *extra], cwd=tmp_path / "lamina", capture_output=True,
                       text=True)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stderr
    ours = json.loads((tmp_path / "lamina" / "config.json").read_text())
    runc = json.loads((tmp_path / "runc" / "config.json").read_text())
    # runc < 1.2 still writes an ambient set, which cannot be raised without inheritable (runc#4367)
    runc["process"]["capabilities"].pop("ambient", None)
    assert _key_paths(ours) == _key_paths(runc)
    for key in ("process", "root", "mounts"):
        assert ours[key] == runc[key], key
    assert {k: v for k, v in ours["linux"].items()} == runc["linux"]
    assert ours["hostname"] == "lamina"


def test_spec_bundle_flag_and_refusal_to_overwrite(lamina, tmp_path):
    p = lamina("spec", "--bundle", str(tmp_path))
    assert p.returncode == 0, p.stderr
    first = (tmp_path / "config.json").read_text()
    assert json.loads(first)["process"]["args"] == ["sh"]
    (tmp_path / "config.json").write_text(first.replace('"sh"', '"mine"'))
    p = lamina("spec", "-b", str(tmp_path))
    assert p.returncode == 1 and "exists" in p.stderr and "remove it first" in p.stderr
    assert '"mine"' in (tmp_path / "config.json").read_text()
    p = lamina("spec", "--rootless", "--bundle", str(tmp_path / "missing"))
    assert p.returncode == 1 and "no such file or directory" in p.stderr
    no_traceback(p)


def test_spec_output_runs(lamina, bundle):
    """What `spec` writes is a config lamina itself runs (with a non-terminal process)."""
    b = bundle()
    os.unlink(os.path.join(b.path, "config.json"))
    assert lamina("spec", "--bundle", b.path).returncode == 0
    with open(os.path.join(b.path, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["hostname"]
    cfg["linux"]["cgroupsPath"] = b.config["linux"]["cgroupsPath"]
    b.config = cfg
    b.write()
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "lamina\n"


# ---------------------------------------------------------------------------------- create/start/state


def test_create_flags_are_accepted(lamina, bundle, tmp_path):
    b = bundle(["sh", "-c", "echo fds:$(ls /proc/self/fd | tr '\\n' ' '); readlink /proc/self/fd/3"])
    pidf = tmp_path / "pid"
    r, w = os.pipe()
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        p = subprocess.run(lamina.argv("create", "--bundle", b.path, "--pid-file", str(pidf), "--no-pivot",
                                       "--no-new-keyring", "--preserve-fds", "1", b.id),
                           stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                           preexec_fn=lambda: os.dup2(r, 3), pass_fds=(3,))
    p.stderr = (tmp_path / "err").read_text()
    lamina.ids.add(b.id)
    os.close(w)
    os.close(r)
    assert p.returncode == 0, p.stderr
    assert pidf.read_text() == str(lamina.state(b.id)["pid"])
    assert lamina("start", b.id).returncode == 0
    wait_for(lambda: status(lamina, b.id) == "stopped")
    # fd 3 is the preserved one; the last number is ls's own directory fd
    first, second = (tmp_path / "out").read_text().splitlines()
    fds = first.split(":", 1)[1].split()
    assert fds[:4] == ["0", "1", "2", "3"] and len(fds) == 5, fds
    assert second.startswith("pipe:["), second  # the preserved fd is our pipe


@pytest.mark.parametrize("flag", [False, True])
def test_no_new_keyring_keeps_the_callers_session_keyring(lamina, bundle, flag):
    b = bundle()
    b.config["process"]["args"] = ["sh", "-c", f"grep -c ' _ses\\.{b.id}: ' /proc/keys; true"]
    b.config["linux"]["maskedPaths"] = [m for m in b.config["linux"]["maskedPaths"] if m != "/proc/keys"]
    b.write()
    p = lamina.run(b, *(["--no-new-keyring"] if flag else []))
    assert p.returncode == 0, p.stderr
    # the container's own keyring `_ses.<id>` exists only without --no-new-keyring
    assert p.stdout.strip() == ("0" if flag else "1"), p.stdout


def test_state_prints_only_json(lamina, bundle):
    b = bundle(["sleep", "100"])
    assert lamina.create(b).returncode == 0
    for expected in ("created", "running", "stopped"):
        if expected == "running":
            assert lamina("start", b.id).returncode == 0
        if expected == "stopped":
            assert lamina("kill", b.id, "KILL").returncode == 0
            wait_for(lambda: lamina.state(b.id)["status"] == "stopped")
        p = lamina("state", b.id)
        assert p.returncode == 0 and p.stderr == ""
        st = json.loads(p.stdout)
        assert st["status"] == expected
        assert st["id"] == b.id and st["bundle"] == b.path and st["rootfs"] == b.rootfs
        assert set(st) >= {"ociVersion", "id", "pid", "status", "bundle", "created"}
        assert (st["pid"] > 0) == (expected != "stopped")


def test_state_of_unknown_id(lamina):
    p = lamina("state", "lt-never-made")
    assert p.returncode == 1 and p.stdout == ""
    assert "does not exist" in p.stderr and len(p.stderr.splitlines()) == 1


@pytest.mark.parametrize("cid", ["../x", "..", ".", "a/b", "foo bar", "a" * 1025])
def test_invalid_ids_are_refused_before_touching_anything(lamina, bundle, cid):
    """Conformance 014: path-like ids never reach the file system."""
    b = bundle(["true"])

    def around_root() -> set[str]:
        # other test sessions may make their own state roots here meanwhile: not ours to judge
        return {n for n in os.listdir(os.path.dirname(lamina.root)) if not n.startswith("lamina-root-")}

    before = around_root()
    verbs = (["run", "--bundle", b.path], ["create", "--bundle", b.path], ["state"], ["delete", "--force"])
    for verb in verbs:
        p = lamina(*verb, cid)
        assert p.returncode == 1, (verb, p.stderr)
        assert "invalid" in p.stderr.lower(), p.stderr
        no_traceback(p)
    assert around_root() == before
    assert not os.path.exists(os.path.join(lamina.root, "..", "x"))


def test_valid_id_characters(lamina, bundle):
    b = bundle(["true"], cid="ok.id+1_-" + os.urandom(3).hex())
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr


# ---------------------------------------------------------------------------------- kill


def _trap_bundle(bundle, out_dir: str, sigs: list[str]):
    traps = "; ".join(f'trap "echo {s} >> /out/got" {s}' for s in sigs)
    b = bundle(["sh", "-c", f"{traps}; echo ready > /out/ready; while :; do sleep 0.05; done"])
    b.config["mounts"].append({"destination": "/out", "type": "bind", "source": out_dir,
                               "options": ["rbind", "rw"]})
    os.makedirs(os.path.join(b.rootfs, "out"), exist_ok=True)
    return b.write()


def test_kill_by_name_and_number(lamina, bundle, tmp_path):
    b = _trap_bundle(bundle, str(tmp_path), ["TERM", "USR1", "HUP", "USR2"])
    assert lamina.run(b, "--detach").returncode == 0
    assert wait_for(lambda: (tmp_path / "ready").exists())
    sent = []
    for arg, name in (("TERM", "TERM"), ("SIGUSR1", "USR1"), ("sighup", "HUP"), ("12", "USR2"),
                      ("sigterm", "TERM"), ("Usr1", "USR1")):
        p = lamina("kill", b.id, arg)
        assert p.returncode == 0 and p.stdout == "" and p.stderr == "", (arg, p.stderr)
        sent.append(name)
        assert wait_for(lambda n=len(sent): len((tmp_path / "got").read_text().split()) == n
                        if (tmp_path / "got").exists() else False), arg
    assert (tmp_path / "got").read_text().split() == sent
    for bad in ("SIGFOO", "0", "65", ""):
        p = lamina("kill", b.id, bad)
        assert p.returncode == 1 and "invalid signal" in p.stderr, (bad, p.stderr)
    assert status(lamina, b.id) == "running"
    # no signal: SIGTERM (trapped, so the container keeps running)
    assert lamina("kill", b.id).returncode == 0
    assert wait_for(lambda: (tmp_path / "got").read_text().split()[-1:] == ["TERM"]
                    and len((tmp_path / "got").read_text().split()) == len(sent) + 1)
    assert lamina("kill", b.id, "sigkill").returncode == 0
    assert wait_for(lambda: status(lamina, b.id) == "stopped")


def _cgroup_procs(b) -> list[int]:
    files = glob.glob(f"/sys/fs/cgroup/*{b.cgroups_path}/cgroup.procs")
    assert files, b.cgroups_path
    with open(files[0]) as f:
        return [int(x) for x in f.read().split()]


def test_kill_all_signals_every_process(lamina, bundle):
    b = bundle(["sh", "-c", "sleep 1000 & sleep 1000 & trap '' TERM; wait"])
    assert lamina.run(b, "-d").returncode == 0
    assert wait_for(lambda: len(_cgroup_procs(b)) == 3)
    init = lamina.state(b.id)["pid"]
    assert lamina("kill", b.id, "KILL", "--all").returncode == 0
    assert wait_for(lambda: _cgroup_procs(b) == [])
    assert wait_for(lambda: status(lamina, b.id) == "stopped")
    assert gone(init)
    # kill --all of a stopped container succeeds (containerd relies on it), plain kill does not
    assert lamina("kill", "-a", b.id, "TERM").returncode == 0


def test_kill_stopped_container(lamina, bundle):
    """Conformance 048."""
    b = bundle(["true"])
    assert lamina.run(b, "-d").returncode == 0
    assert wait_for(lambda: status(lamina, b.id) == "stopped")
    p = lamina("kill", b.id, "TERM")
    assert p.returncode == 1 and "container not running" in p.stderr, p.stderr
    assert lamina("kill", "--all", b.id, "TERM").returncode == 0
    assert lamina("delete", b.id).returncode == 0
    assert not os.path.exists(os.path.join(lamina.root, b.id))


# ---------------------------------------------------------------------------------- delete


def test_delete_running_needs_force(lamina, bundle):
    b = bundle(["sleep", "100"])
    assert lamina.run(b, "-d").returncode == 0
    pid = lamina.state(b.id)["pid"]
    p = lamina("delete", b.id)
    assert p.returncode == 1
    assert f"cannot delete container {b.id} that is not stopped: running" in p.stderr
    assert status(lamina, b.id) == "running"
    p = lamina("delete", "--force", b.id)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == ""
    assert not os.path.exists(os.path.join(lamina.root, b.id))
    assert wait_for(lambda: gone(pid))
    assert glob.glob(f"/sys/fs/cgroup/*{b.cgroups_path}") == []
    assert lamina("state", b.id).returncode == 1


def test_delete_created_container(lamina, bundle):
    """Conformance 049: runc and crun delete a created container without --force."""
    b = bundle(["sleep", "100"])
    assert lamina.create(b).returncode == 0
    pid = lamina.state(b.id)["pid"]
    assert lamina("delete", b.id).returncode == 0
    assert wait_for(lambda: gone(pid))
    p = lamina("state", b.id)
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_unknown_id_delete_and_kill(lamina):
    """Conformance 050: delete --force is idempotent; the others say `does not exist`."""
    p = lamina("delete", "--force", "lt-never-made")
    assert p.returncode == 0 and p.stderr == ""
    for args in (["delete", "lt-never-made"], ["kill", "lt-never-made", "KILL"], ["start", "lt-never-made"]):
        p = lamina(*args)
        assert p.returncode == 1 and "container lt-never-made does not exist" in p.stderr, args


# ---------------------------------------------------------------------------------- list


def test_list_formats(lamina, bundle):
    a, b = bundle(["sleep", "100"]), bundle(["sleep", "100"])
    assert lamina.create(a).returncode == 0
    assert lamina.run(b, "-d").returncode == 0
    p = lamina("list")
    assert p.returncode == 0 and p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert rows[a.id][1:4] == [str(lamina.state(a.id)["pid"]), "created", a.path]
    assert rows[b.id][1:4] == [str(lamina.state(b.id)["pid"]), "running", b.path]
    # columns line up under the header
    col = lines[0].index("STATUS")
    assert all(ln[col:].split()[0] in ("created", "running", "stopped") for ln in lines[1:])
    p = lamina("list", "--format", "json")
    assert p.returncode == 0 and p.stderr == ""
    states = {s["id"]: s for s in json.loads(p.stdout)}
    assert states[a.id]["status"] == "created" and states[b.id]["status"] == "running"
    assert states[a.id] == lamina.state(a.id)
    p = lamina("list", "-q")
    assert {a.id, b.id} <= set(p.stdout.split())
    assert all(ln in states for ln in p.stdout.split())


def test_list_on_an_empty_or_missing_root(lamina, tmp_path):
    p = subprocess.run([lamina.binary, "--root", str(tmp_path / "none"), "list", "--format", "json"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout) == [] and p.stderr == ""


# ---------------------------------------------------------------------------------- features, plugins


def test_features_are_assembled_from_the_plugins(lamina, admin_file):
    p = lamina("features")
    assert p.returncode == 0 and p.stderr == ""
    doc = json.loads(p.stdout)
    assert doc["ociVersionMin"] == "1.0.0"
    assert {"pid", "network", "mount", "ipc", "uts", "user", "cgroup"} <= set(doc["linux"]["namespaces"])
    assert {"CAP_SYS_ADMIN", "CAP_KILL", "CAP_NET_BIND_SERVICE"} <= set(doc["linux"]["capabilities"])
    assert {"bind", "rbind", "ro", "nosuid", "private", "rshared"} <= set(doc["mountOptions"])
    assert set(doc["hooks"]) == {"prestart", "createRuntime", "createContainer", "startContainer",
                                 "poststart", "poststop"}
    names = doc["annotations"]["org.opencontainers.runtime-spec.features.lamina.plugins"].split(",")
    assert {"namespaces", "rootfs", "process", "cgroups", "ocihooks"} <= set(names)
    # without the ocihooks plugin nothing claims to run OCI hooks
    off = json.loads(lamina("features", admin=admin_file('[plugins]\ndisable = ["ocihooks"]\n')).stdout)
    assert not off.get("hooks")
    assert "ocihooks" not in off["annotations"]["org.opencontainers.runtime-spec.features.lamina.plugins"]
    assert off["linux"]["namespaces"] == doc["linux"]["namespaces"]


def test_plugins_lists_name_version_hooks_claims(lamina, admin_file):
    from importlib.metadata import version

    p = lamina("plugins", "--format", "json")
    assert p.returncode == 0 and p.stderr == ""
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert {"namespaces", "rootfs", "process", "cgroups", "ocihooks"} <= set(rows)
    for r in rows.values():
        if r["distribution"] == "lamina":
            assert r["version"] == version("lamina")
        assert r["version"], r
        assert r["enabled"] is True
        assert r["hooks"] and all(h.startswith("lamina_") for h in r["hooks"])
    assert "linux.namespaces" in rows["namespaces"]["claims"]
    assert "hooks" in rows["ocihooks"]["claims"]
    assert "lamina_init_namespaces" in rows["namespaces"]["hooks"]
    text = lamina("plugins").stdout
    assert f"namespaces {rows['namespaces']['version']} (lamina, enabled)" in text
    assert "linux.namespaces" in text and "lamina_init_namespaces" in text
    off = lamina("plugins", "--format", "json", admin=admin_file('[plugins]\ndisable = ["ocihooks"]\n'))
    offrows = {r["name"]: r for r in json.loads(off.stdout)}
    assert offrows["ocihooks"]["enabled"] is False and offrows["ocihooks"]["claims"] == []


# ---------------------------------------------------------------------------------- speed rule


@pytest.mark.parametrize("verb", [["state", "x"], ["start", "x"], ["kill", "x"], ["list"]])
def test_hot_verbs_do_not_import_the_plugin_machinery(lamina, verb):
    """DESIGN §7: state/start/kill/list never import pluggy, stevedore or importlib.metadata."""
    code = ("import sys; from lamina.cli.main import run_cli\n"
            "run_cli(sys.argv[1:])\n"
            "bad = [m for m in ('pluggy', 'stevedore', 'importlib.metadata') if m in sys.modules]\n"
            "print(','.join(bad) or 'clean')")
    p = subprocess.run([sys.executable, "-c", code, "--root", lamina.root, *verb], capture_output=True,
                       text=True)
    assert p.stdout.strip().splitlines()[-1] == "clean", p.stdout + p.stderr
