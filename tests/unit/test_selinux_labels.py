"""SELinux context strings (lamina.plugins.selinux.labels) and the LSM mount options the rootfs
plugin adds (lamina.plugins.rootfs.mounts.fs_data): pure logic."""

from __future__ import annotations

import pytest
from lamina.context import Context
from lamina.plugins.rootfs.mounts import fs_data
from lamina.plugins.selinux import labels


def test_parse_context_with_and_without_level():
    c = labels.parse("system_u:system_r:container_t:s0:c1,c2")
    assert (c.user, c.role, c.type, c.level) == ("system_u", "system_r", "container_t", "s0:c1,c2")
    assert labels.parse("u:r:t").level == ""
    with pytest.raises(ValueError, match="not an SELinux context"):
        labels.parse("container_t")
    with pytest.raises(ValueError):
        labels.parse("u::t")


def test_categories_lists_and_ranges():
    assert labels.parse_categories("c1,c2") == {1, 2}
    assert labels.parse_categories("c0.c3,c7") == {0, 1, 2, 3, 7}
    assert labels.format_categories(frozenset({0, 1, 2, 3, 7, 9, 10})) == "c0.c3,c7,c9,c10"
    for bad in ("x1", "c3.c1", "c1.x"):
        with pytest.raises(ValueError):
            labels.parse_categories(bad)


def test_level_ranges_and_dominance():
    lo, hi = labels.level_range("s0-s0:c0.c1023")
    assert lo == labels.Level(0, frozenset())
    assert hi.categories == frozenset(range(1024))
    assert labels.dominates(hi, labels.parse_level("s0:c1,c2"))
    assert not labels.dominates(labels.parse_level("s0:c1"), labels.parse_level("s0:c1,c2"))
    assert not labels.dominates(labels.parse_level("s0:c1,c2"), labels.parse_level("s1:c1"))


def test_missing_categories_explains_an_mcs_refusal():
    why = labels.missing_categories("system_u:system_r:container_t:s0:c3,c4",
                                    "system_u:object_r:container_file_t:s0:c1,c2")
    assert why == ("the process level s0:c3,c4 does not dominate the file's level s0:c1,c2 "
                   "(it lacks categories c1,c2): MCS forbids reading it")
    assert labels.missing_categories("u:r:container_t:s0:c1,c2,c3", "u:object_r:f:s0:c1,c2") is None
    assert labels.missing_categories("u:r:t", "u:r:f:s0:c1") is None  # no MCS on one side: no opinion


def test_mount_option_is_quoted_for_the_commas():
    assert labels.mount_option("system_u:object_r:container_file_t:s0:c1,c2") == \
        'context="system_u:object_r:container_file_t:s0:c1,c2"'
    with pytest.raises(ValueError):
        labels.mount_option('a"b')


def test_fs_data_adds_lsm_options_per_filesystem_type():
    ctx = Context(id="x", root="/run/x")
    assert fs_data(ctx, "tmpfs", ["mode=755"]) == "mode=755"
    assert fs_data(ctx, "tmpfs", []) is None
    ctx.scratch["lsm_mount_options"] = {"tmpfs": ['context="u:object_r:t:s0:c1,c2"']}
    assert fs_data(ctx, "tmpfs", ["mode=755"]) == 'mode=755,context="u:object_r:t:s0:c1,c2"'
    assert fs_data(ctx, "proc", []) is None
    # the config's own context= wins
    assert fs_data(ctx, "tmpfs", ['context="u:object_r:other_t:s0"']) == 'context="u:object_r:other_t:s0"'
