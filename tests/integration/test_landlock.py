"""The example third-party plugin lamina-landlock (examples/lamina-landlock, its own distribution,
installed beside lamina by `make venv`): denied paths are denied in real containers, the admin's
baseline cannot be widened by config.json, and mistakes fail create with the field named.
"""

from __future__ import annotations

import json
import os

import pytest
from lamina import testing

pytestmark = pytest.mark.integration

RO = "org.lamina.landlock.read_only"
RW = "org.lamina.landlock.read_write"

# each probe prints "<name> ok" or "<name> <error>" (busybox's message ends with the errno text)
PROBES = r"""
probe() { name=$1; shift; if out=$("$@" 2>&1); then echo "$name ok"; else echo "$name $out"; fi; }
probe write_tmp sh -c 'echo x > /tmp/f && cat /tmp/f'
probe write_etc sh -c 'echo x > /etc/landlock-test'
probe read_etc cat /etc/passwd
probe list_root ls /root
probe read_home cat /home/user/.profile
probe mkdir_tmp mkdir /tmp/d
probe rm_etc rm -f /etc/group
"""


def landlocked(bundle, ro: str | None, rw: str | None, script: str = PROBES, **kw) -> testing.Bundle:
    cfg = testing.base_config(["/bin/sh", "-c", script])
    cfg["annotations"] = {k: v for k, v in ((RO, ro), (RW, rw)) if v is not None}
    b = bundle(config=cfg, **kw)
    with open(os.path.join(b.rootfs, "home/user/.profile"), "w") as f:
        f.write("export X=1\n")
    return b


def results(out: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


@pytest.fixture(autouse=True)
def _landlock_available(lamina):
    feats = lamina.features()
    if not feats.get("linux", {}).get("landlock", {}).get("enabled"):
        pytest.skip("this kernel has no Landlock")


def test_denied_paths_are_denied(lamina, bundle):
    p = lamina.run(landlocked(bundle, ro="/bin:/etc:/dev:/proc", rw="/tmp"))
    assert p.returncode == 0, p.stderr
    r = results(p.stdout)
    assert r["write_tmp"] == "ok" and r["mkdir_tmp"] == "ok" and r["read_etc"] == "ok"
    # read-only: writing, creating and removing fail with EACCES
    assert r["write_etc"].endswith("Permission denied"), r
    assert r["rm_etc"].endswith("Permission denied"), r
    # in neither list: not even readable or listable
    assert r["list_root"].endswith("Permission denied"), r
    assert r["read_home"].endswith("Permission denied"), r


def test_without_annotations_nothing_is_restricted(lamina, bundle):
    b = bundle(["/bin/sh", "-c", PROBES])
    with open(os.path.join(b.rootfs, "home/user/.profile"), "w") as f:
        f.write("export X=1\n")
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert set(results(p.stdout).values()) == {"ok"}


def test_exec_needs_the_binary_in_a_list(lamina, bundle):
    """execute is a Landlock right: a program outside both lists cannot even start."""
    b = landlocked(bundle, ro="/etc", rw="/tmp", script="true")
    p = lamina.run(b)
    assert p.returncode != 0
    assert "permission denied" in p.stderr.lower()


def test_the_admin_baseline_cannot_be_widened(lamina, bundle, admin_file):
    """The admin's layer and the container's stack: asking for read_write on / changes nothing."""
    lamina.admin = admin_file({"plugin": {"landlock": {"read_only": ["/"], "read_write": ["/tmp"]}}})
    p = lamina.run(landlocked(bundle, ro=None, rw="/"))
    assert p.returncode == 0, p.stderr
    r = results(p.stdout)
    assert r["write_tmp"] == "ok" and r["read_home"] == "ok"
    assert r["write_etc"].endswith("Permission denied"), r
    # with no annotation at all, the baseline still applies to every container
    b = bundle(["/bin/sh", "-c", "echo x > /etc/y"])
    p = lamina.run(b)
    assert p.returncode != 0 and "Permission denied" in p.stderr
    # and the annotation narrows it further
    p = lamina.run(landlocked(bundle, ro="/bin:/dev", rw="/tmp"))
    assert results(p.stdout)["read_etc"].endswith("Permission denied")


def test_confinement_survives_exec(lamina, bundle, subreaper):
    """`lamina exec` runs the same container-side hooks: the new process is confined too."""
    b = landlocked(bundle, ro="/bin:/etc:/dev:/proc", rw="/tmp", script="sleep 30")
    assert lamina.create(b).returncode == 0
    assert lamina("start", b.id).returncode == 0
    p = lamina("exec", b.id, "/bin/sh", "-c", "echo x > /etc/from-exec")
    assert p.returncode != 0 and "Permission denied" in p.stderr, (p.stdout, p.stderr)
    p = lamina("exec", b.id, "/bin/sh", "-c", "echo x > /tmp/from-exec")
    assert p.returncode == 0, p.stderr


def test_inspect_shows_the_layers(lamina, bundle, subreaper):
    b = landlocked(bundle, ro="/bin:/etc", rw="/tmp", script="true")
    assert lamina.create(b).returncode == 0
    report = lamina.inspect(b.id)["audit"]["applied"]["landlock"]
    assert report["abi"] >= 1 and "write_file" in report["handled"]
    assert report["layers"] == [{"source": "annotations", "read_only": ["/bin", "/etc"],
                                 "read_write": ["/tmp"]}]
    table = lamina("inspect", b.id).stdout
    assert "landlock" in table and "/etc" in table


@pytest.mark.parametrize("annotations, message", [
    ({RO: "/bin:etc"}, f"annotations.{RO}: 'etc' is not an absolute path"),
    ({"org.lamina.landlock.readonly": "/bin"},
     "annotations.org.lamina.landlock.readonly: unknown Landlock annotation"),
    ({"org.lamina.landlock.disable": "true"},
     "annotations.org.lamina.landlock.disable: unknown Landlock annotation"),
])
def test_bad_annotations_are_refused(lamina, bundle, annotations, message):
    cfg = testing.base_config(["/bin/true"])
    cfg["annotations"] = annotations
    b = bundle(config=cfg)
    p = lamina.run(b)
    assert p.returncode == 1 and message in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(lamina.root, b.id))


def test_missing_path_fails_create_with_the_field(lamina, bundle):
    b = landlocked(bundle, ro="/bin:/no/such/dir", rw="/tmp", script="true")
    p = lamina.create(b)
    assert p.returncode == 1
    assert f"annotations.{RO}: /no/such/dir: no such file or directory" in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_disabled_plugin_means_refused_not_unconfined(lamina, bundle, admin_file):
    lamina.admin = admin_file({"plugins": {"disable": ["landlock"]}})
    p = lamina.run(landlocked(bundle, ro="/bin", rw="/tmp", script="true"))
    assert p.returncode == 1
    assert f"no enabled plugin honours annotations.{RO}" in p.stderr


def test_admin_settings_are_checked(lamina, bundle, admin_file):
    lamina.admin = admin_file({"plugin": {"landlock": {"read_onyl": ["/"]}}})
    p = lamina.run(bundle())
    assert p.returncode == 1 and "plugin.landlock.read_onyl: unknown setting" in p.stderr
    lamina.admin = admin_file({"plugin": {"landlock": {"min_abi": 999}}})
    p = lamina.run(bundle())
    assert p.returncode == 1 and "requires Landlock ABI 999" in p.stderr


def test_features_and_plugins_describe_it(lamina):
    ll = lamina.features()["linux"]["landlock"]
    assert ll["enabled"] is True and ll["abi"] >= 1
    assert ll["annotations"] == [RO, RW]
    row = next(r for r in lamina.plugins() if r["name"] == "landlock")
    assert row["distribution"] == "lamina-landlock"
    assert row["claims"] == ["annotations.org.lamina.landlock"]
    assert "lamina_init_before_privileges" in row["hooks"]
    assert json.dumps(row)
