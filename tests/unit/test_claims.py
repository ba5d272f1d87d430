"""Which config.json fields must be claimed by an enabled plugin (pure logic)."""

from __future__ import annotations

import pytest
from lamina.config import claims
from lamina.testing import base_config


def test_the_default_config_asks_for_these():
    present = set(claims.present(base_config()))
    assert {"process.user", "process.capabilities", "process.rlimits", "process.noNewPrivileges", "mounts",
            "hostname", "linux.namespaces", "linux.resources.devices", "linux.maskedPaths",
            "linux.readonlyPaths"} <= present
    assert "linux.seccomp" not in present and "process.selinuxLabel" not in present


@pytest.mark.parametrize("value", [None, False, [], {}, ""])
def test_absent_or_empty_is_not_asking(value):
    cfg = {"linux": {"seccomp": value}, "process": {"selinuxLabel": value, "apparmorProfile": value}}
    assert claims.present(cfg) == []


@pytest.mark.parametrize("field,value", [
    ("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW"}),
    ("process.selinuxLabel", "system_u:system_r:container_t:s0"),
    ("process.apparmorProfile", "x"),
    ("linux.intelRdt", {"closID": "a"}),
    ("linux.resources.memory", {"limit": 1}),
    ("root.readonly", True),
    ("process.noNewPrivileges", True),
])
def test_present_field(field, value):
    cfg: dict = {}
    cur = cfg
    parts = field.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    assert claims.present(cfg) == [field]
    assert claims.unclaimed(cfg, set()) == [field]


def test_a_claim_covers_its_sub_fields():
    cfg = {"linux": {"resources": {"memory": {"limit": 1}, "pids": {"limit": 3}}}}
    assert claims.unclaimed(cfg, {"linux.resources"}) == []
    assert claims.unclaimed(cfg, {"linux"}) == []
    assert claims.unclaimed(cfg, {"linux.resources.memory"}) == ["linux.resources.pids"]


def test_a_sibling_or_prefix_string_is_no_claim():
    cfg = {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}}
    assert claims.unclaimed(cfg, {"linux.sec", "linux.seccomp.syscalls", "seccomp"}) == ["linux.seccomp"]


def test_wrong_types_do_not_crash_the_walk():
    cfg = {"linux": "oops", "process": ["x"], "root": 3}
    assert claims.present(cfg) == []


def test_unknown_fields_are_ignored():
    assert claims.present({"x-vendor": {"anything": 1}, "linux": {"futureThing": True}}) == []
