"""`lamina spec`: the default config.json (runc's shape) and its rootless variant, as pure data.

The comparison with the real `runc spec` output is in tests/integration/test_cli.py.
"""

from __future__ import annotations

import json
import os

import pytest
from lamina import defaultspec
from lamina.config.schema import check_config
from lamina.errors import LaminaError


def ns_types(spec: dict) -> list[str]:
    return [n["type"] for n in spec["linux"]["namespaces"]]


def test_default_spec_is_valid_and_runc_shaped():
    spec = defaultspec.default_spec()
    assert check_config(spec) == []
    assert set(spec) == {"ociVersion", "process", "root", "hostname", "mounts", "linux"}
    proc = spec["process"]
    assert proc["terminal"] is True and proc["args"] == ["sh"] and proc["cwd"] == "/"
    assert proc["user"] == {"uid": 0, "gid": 0}
    assert proc["noNewPrivileges"] is True
    # no inheritable, no ambient set (runc >= 1.2): ambient cannot be raised without inheritable
    assert set(proc["capabilities"]) == {"bounding", "effective", "permitted"}
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    assert spec["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    assert "/proc/sys" in spec["linux"]["readonlyPaths"]


def test_cgroup_namespace_only_on_unified_hosts(monkeypatch):
    monkeypatch.setattr(defaultspec, "_unified_cgroup", lambda: False)
    assert ns_types(defaultspec.default_spec()) == ["pid", "network", "ipc", "uts", "mount"]
    monkeypatch.setattr(defaultspec, "_unified_cgroup", lambda: True)
    assert ns_types(defaultspec.default_spec()) == ["pid", "network", "ipc", "uts", "mount", "cgroup"]


def test_rootless_spec(monkeypatch):
    monkeypatch.setattr(defaultspec, "_unified_cgroup", lambda: False)
    spec = defaultspec.default_spec(rootless=True)
    assert check_config(spec) == []
    assert ns_types(spec) == ["pid", "ipc", "uts", "mount", "user"]
    linux = spec["linux"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getgid(), "size": 1}]
    assert "resources" not in linux
    mounts = {m["destination"]: m for m in spec["mounts"]}
    assert mounts["/sys"] == {"destination": "/sys", "type": "none", "source": "/sys",
                              "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    assert not any(o.startswith("gid=") for o in mounts["/dev/pts"]["options"])
    assert "options" not in mounts["/proc"]
    assert "/sys/fs/cgroup" in mounts
    # the plain default is not changed by building a rootless one
    plain = {m["destination"]: m for m in defaultspec.default_spec()["mounts"]}
    assert "gid=5" in plain["/dev/pts"]["options"]


def test_write_spec_writes_tab_indented_json_and_refuses_to_overwrite(tmp_path):
    path = defaultspec.write_spec(str(tmp_path))
    assert path == str(tmp_path / "config.json")
    text = (tmp_path / "config.json").read_text()
    assert text.startswith('{\n\t"ociVersion"') and text.endswith("}\n")
    assert json.loads(text) == defaultspec.default_spec()
    (tmp_path / "config.json").write_text("mine")
    with pytest.raises(LaminaError, match=r"config.json exists: remove it first"):
        defaultspec.write_spec(str(tmp_path))
    assert (tmp_path / "config.json").read_text() == "mine"


def test_write_spec_into_a_missing_directory(tmp_path):
    with pytest.raises(LaminaError, match=r"^cannot write .*/nope/config.json: no such file or directory$"):
        defaultspec.write_spec(str(tmp_path / "nope"))
