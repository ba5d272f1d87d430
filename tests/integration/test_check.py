"""`lamina check <bundle>`: the spec, the enabled plugins' claims and validation, and the host
policy, all at once and with field paths, without creating anything."""

from __future__ import annotations

import json
import os

import pytest
from lamina import testing

pytestmark = pytest.mark.integration


def nothing_made(lamina, b) -> None:
    assert not os.path.exists(os.path.join(lamina.root, b.id))
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_a_good_bundle_is_ok(lamina, bundle):
    b = bundle()
    p = lamina("check", b.path)
    assert p.returncode == 0 and p.stdout.strip() == f"{b.path}: ok", p.stderr
    assert lamina.check(b) == (0, [])
    nothing_made(lamina, b)


def test_every_problem_with_its_field(lamina, bundle, admin_file):
    lamina.admin = admin_file({"policy": {"require_seccomp": True, "max_capabilities": ["CAP_KILL"]}})
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["capabilities"]["bounding"].append("CAP_FLY")
    cfg["linux"]["namespaces"].append({"type": "pid"})
    cfg["annotations"] = {"org.lamina.nobody.level": "high", "org.lamina.landlock.read_only": "bin"}
    b = bundle(config=cfg)
    code, problems = lamina.check(b)
    assert code == 1
    expected = [
        "no enabled plugin honours annotations.org.lamina.nobody.level",
        "process.capabilities.bounding[3]: unknown capability 'CAP_FLY'",
        "linux.namespaces[5].type: namespace 'pid' is listed twice",
        "annotations.org.lamina.landlock.read_only: 'bin' is not an absolute path",
        "linux.seccomp: the host policy requires a seccomp filter, and there is none "
        "(policy.require_seccomp)",
        "process.capabilities.bounding[2]: CAP_NET_BIND_SERVICE is above the host's capability ceiling "
        "(policy.max_capabilities)",
    ]
    for e in expected:
        assert any(p.startswith(e) for p in problems), (e, problems)
    # the text form: one problem per line on stdout, a count on stderr, exit 1
    p = lamina("check", b.path)
    assert p.returncode == 1
    assert p.stdout.splitlines() == problems
    assert f"{len(problems)} problems" in p.stderr
    nothing_made(lamina, b)


def test_type_errors_come_first(lamina, bundle):
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["args"] = "/bin/true"
    cfg["linux"]["namespaces"] = [{"type": 5}]
    code, problems = lamina.check(bundle(config=cfg))
    assert code == 1
    assert problems == ["process.args: must be a list, got '/bin/true'",
                        "linux.namespaces[0].type: must be a string, got 5"]


def test_fields_no_enabled_plugin_honours(lamina, bundle, admin_file):
    lamina.admin = admin_file({"plugins": {"disable": ["seccomp"]}})
    cfg = testing.base_config(["/bin/true"])
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}
    code, problems = lamina.check(bundle(config=cfg))
    assert code == 1 and problems == ["no enabled plugin honours linux.seccomp"]


def test_missing_or_broken_config(lamina, tmp_path):
    p = lamina("check", str(tmp_path))
    assert p.returncode == 1 and "config.json: no such file or directory" in p.stderr
    (tmp_path / "config.json").write_text("{not json")
    p = lamina("check", "--format", "json", str(tmp_path))
    assert p.returncode == 1
    assert json.loads(p.stdout)["problems"][0].startswith("config.json: invalid JSON")


def test_check_agrees_with_create(lamina, bundle, admin_file):
    """What check reports is exactly what create refuses with."""
    lamina.admin = admin_file({"policy": {"require_no_new_privileges": True}})
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["noNewPrivileges"] = False
    b = bundle(config=cfg)
    _, problems = lamina.check(b)
    p = lamina.create(b)
    assert p.returncode == 1
    assert p.stderr.strip() == "lamina: " + "; ".join(problems)
