"""The plugin seam as the host administrator drives it, with real `lamina` commands as root.

- claims: a config.json field that only a disabled plugin honours is refused
  (`no enabled plugin honours linux.seccomp`), before anything is made;
- the admin file (LAMINA_CONFIG here, /etc/lamina/lamina.toml normally) must be owned by root and
  writable by root only; a bad one stops every verb that loads plugins;
- `disable` of a name that is not installed is accepted: the admin's wish ("this must not run")
  holds trivially, and one admin file can serve hosts with different plugin sets. `require` of an
  absent name is an error, and `replace` runs the replacement instead of the original;
- a plugin that fails to import, or names a hook that does not exist, is a load error; verbs on
  the hot path (state, start, kill, list) load no plugin and keep working.

Plugins under test are put on PYTHONPATH as a module plus a .dist-info (testing.install_plugin):
nothing is pip-installed.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from lamina import hookspecs, syscalls, testing

pytestmark = pytest.mark.integration


# where a mount leaking from a container would show in the host's namespace (the whole table
# also changes with what other test sessions on the host mount meanwhile)
HOST_DIRS = ("/etc", "/dev", "/bin", "/usr", "/root", "/home", "/sbin", "/lib")


def mounts(*paths: str) -> set[str]:
    return testing.mount_table(*paths, *HOST_DIRS)

API = f"LAMINA_HOOK_API = {hookspecs.HOOK_API_VERSION}\n"
SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}


@pytest.fixture(autouse=True, scope="module")
def _subreaper():
    syscalls.set_subreaper()


def refused(lamina, b: testing.Bundle, p, expect: str) -> str:
    __tracebackhide__ = True
    assert p.returncode == 1, f"exit {p.returncode}: {p.stdout} {p.stderr}"
    assert "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert expect in lines[0], lines[0]
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    return lines[0]


def installed(lamina) -> dict[str, dict]:
    return {r["name"]: r for r in lamina.plugins()}


# ---------------------------------------------------------------- claims


@pytest.mark.parametrize("field,value,plugin", [
    ("linux.seccomp", SECCOMP, "seccomp"),
    ("process.selinuxLabel", "system_u:system_r:container_t:s0", "selinux"),
    ("linux.mountLabel", "system_u:object_r:container_file_t:s0", "selinux"),
    ("linux.cgroupsPath", None, "cgroups"),
    ("hooks", {"prestart": [{"path": "/bin/true"}]}, "ocihooks"),
    ("process.capabilities", None, "process"),
    ("linux.namespaces", None, "namespaces"),
])
@pytest.mark.parametrize("verb", ["create", "run"])
def test_field_of_a_disabled_plugin_is_refused(lamina, bundle, admin_file, field, value, plugin, verb):
    b = bundle(["true"])
    if value is not None:
        parent, _, leaf = field.rpartition(".")
        (b.config[parent] if parent else b.config)[leaf] = value
        b.write()
    admin = admin_file(f'[plugins]\ndisable = ["{plugin}"]\n')
    p = lamina(verb, "--bundle", b.path, b.id, admin=admin)
    refused(lamina, b, p, f"no enabled plugin honours {field}")
    rows = {r["name"]: r for r in lamina.plugins(admin=admin)}
    if plugin in rows:  # installed: listed as disabled, with no claims
        assert rows[plugin]["enabled"] is False and rows[plugin]["claims"] == []


def test_every_unclaimed_field_is_named(lamina, bundle, admin_file):
    b = bundle(["true"])
    b.config["linux"]["seccomp"] = SECCOMP
    b.config["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    b.config["process"]["apparmorProfile"] = "lamina-default"
    b.write()
    admin = admin_file('[plugins]\ndisable = ["seccomp", "selinux"]\n')
    line = refused(lamina, b, lamina.create(b, admin=admin), "no enabled plugin honours")
    for field in ("linux.seccomp", "process.selinuxLabel", "process.apparmorProfile"):
        assert f"no enabled plugin honours {field}" in line


def test_empty_security_fields_need_no_plugin(lamina, bundle, admin_file):
    """Absent or empty is not asking: a config without seccomp runs with the plugin disabled."""
    b = bundle(["true"])
    b.config["process"]["selinuxLabel"] = ""
    b.write()
    admin = admin_file('[plugins]\ndisable = ["seccomp", "selinux"]\n')
    p = lamina.run(b, admin=admin)
    assert p.returncode == 0, p.stderr


def test_disable_of_an_absent_plugin_is_accepted(lamina, bundle, admin_file):
    b = bundle(["true"])
    admin = admin_file('[plugins]\ndisable = ["no-such-plugin-anywhere"]\n')
    p = lamina.run(b, admin=admin)
    assert p.returncode == 0, p.stderr
    assert "no-such-plugin-anywhere" not in installed(lamina)


def test_require_of_an_absent_plugin_is_an_error(lamina, bundle, admin_file):
    b = bundle(["true"])
    admin = admin_file('[plugins]\nrequire = ["no-such-plugin-anywhere"]\n')
    line = refused(lamina, b, lamina.run(b, admin=admin), "plugin no-such-plugin-anywhere is required by")
    assert admin in line and "not installed" in line
    p = lamina("plugins", admin=admin)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1


def test_require_of_an_installed_plugin_runs(lamina, bundle, admin_file):
    b = bundle(["true"])
    admin = admin_file('[plugins]\nrequire = ["namespaces", "process"]\n')
    assert lamina.run(b, admin=admin).returncode == 0


def test_disable_and_require_of_one_name_is_an_error(lamina, bundle, admin_file):
    b = bundle(["true"])
    admin = admin_file('[plugins]\ndisable = ["ocihooks"]\nrequire = ["ocihooks"]\n')
    refused(lamina, b, lamina.run(b, admin=admin), "ocihooks both disabled and required")


def test_disabling_process_without_replacement_refuses_its_fields(lamina, bundle, admin_file):
    b = bundle(["true"])
    admin = admin_file('[plugins]\ndisable = ["process"]\n')
    line = refused(lamina, b, lamina.run(b, admin=admin), "no enabled plugin honours process.")
    for field in ("process.user", "process.capabilities", "process.rlimits", "process.noNewPrivileges"):
        assert f"no enabled plugin honours {field}" in line


REPLACEMENT = API + '''
import os

from lamina import hookimpl
from lamina.plugins.process import plugin as _builtin
from lamina.plugins.process.plugin import *  # noqa: F403  (everything the built-in does)


@hookimpl
def lamina_prepare(ctx):
    _builtin.lamina_prepare(ctx)
    ctx.config["process"].setdefault("env", []).append("REPLACED_BY=procx")
'''


def test_replace_runs_the_replacement_instead(lamina, bundle, admin_file, temp_plugin):
    temp_plugin("procx", REPLACEMENT, dist="acme-procx", version="2.0")
    admin = admin_file('[plugins.replace]\nprocess = "procx"\n')
    rows = installed_with(lamina, admin)
    assert rows["process"]["enabled"] is False
    assert rows["procx"]["enabled"] is True and rows["procx"]["distribution"] == "acme-procx"
    assert "process.capabilities" in rows["procx"]["claims"]
    b = bundle(["sh", "-c", 'echo "$REPLACED_BY"; grep CapEff /proc/self/status'])
    p = lamina.run(b, admin=admin)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["procx", "CapEff:\t0000000020000420"]
    # without the admin file and the replacement the built-in is back
    lamina.pythonpath.clear()
    p = lamina.run(b)
    assert p.returncode == 0 and p.stdout.splitlines()[0] == ""


def installed_with(lamina, admin: str) -> dict[str, dict]:
    return {r["name"]: r for r in lamina.plugins(admin=admin)}


def test_replace_with_an_absent_plugin_is_an_error(lamina, bundle, admin_file):
    b = bundle(["true"])
    admin = admin_file('[plugins.replace]\nprocess = "no-such-procx"\n')
    refused(lamina, b, lamina.run(b, admin=admin), "plugin no-such-procx is required by")


# ---------------------------------------------------------------- the admin file itself


@pytest.mark.parametrize("uid,mode", [(1000, 0o644), (0, 0o664), (0, 0o646), (0, 0o666), (1000, 0o600)])
def test_admin_file_must_be_roots_alone(lamina, bundle, admin_file, uid, mode):
    admin = admin_file('[plugins]\ndisable = ["seccomp"]\n')
    os.chown(admin, uid, 0)
    os.chmod(admin, mode)
    b = bundle(["true"])
    line = refused(lamina, b, lamina.run(b, admin=admin), f"admin file {admin} must be owned by root and "
                                                          "writable only by root")
    assert line.startswith("lamina: ")
    for verb in (("plugins",), ("features",), ("create", "--bundle", b.path, b.id)):
        p = lamina(*verb, admin=admin)
        assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "owned by root" in p.stderr, verb
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o444])
def test_admin_file_owned_by_root_is_accepted(lamina, bundle, admin_file, mode):
    admin = admin_file('[plugins]\ndisable = ["no-such-plugin"]\n')
    os.chmod(admin, mode)
    b = bundle(["true"])
    assert lamina.run(b, admin=admin).returncode == 0


def test_admin_file_through_symlink_is_judged_by_its_target(lamina, bundle, admin_file, tmp_path):
    admin = admin_file("[plugins]\n")
    os.chmod(admin, 0o666)
    link = tmp_path / "link.toml"
    link.symlink_to(admin)
    b = bundle(["true"])
    refused(lamina, b, lamina.run(b, admin=str(link)), "must be owned by root")


@pytest.mark.parametrize("text,expect", [
    ("[plugins\n", "invalid TOML"),
    ('[plugins]\ndisable = "seccomp"\n', "plugins.disable must be a list of plugin names"),
    ("[plugins]\nrequire = [1]\n", "plugins.require must be a list of plugin names"),
    ('plugins = "x"\n', "[plugins] must be a table"),
    ('[plugins]\nreplace = ["process"]\n', "plugins.replace must map a plugin name to its replacement"),
])
def test_malformed_admin_file(lamina, bundle, admin_file, text, expect):
    admin = admin_file(text)
    b = bundle(["true"])
    line = refused(lamina, b, lamina.run(b, admin=admin), expect)
    assert admin in line


def test_missing_admin_file_named_by_lamina_config(lamina, bundle, tmp_path):
    b = bundle(["true"])
    missing = str(tmp_path / "nope.toml")
    refused(lamina, b, lamina.run(b, admin=missing), f"admin file {missing} (LAMINA_CONFIG): no such file")


# ---------------------------------------------------------------- plugins that fail to load


@pytest.mark.parametrize("source,expect", [
    (API + "raise RuntimeError('boom at import')\n", "failed to load: RuntimeError: boom at import"),
    (API + "import lamina_no_such_dependency\n", "failed to load: ModuleNotFoundError"),
    (API + "from lamina import hookimpl\n@hookimpl\ndef lamina_valdate(config, bundle):\n    return []\n",
     "lamina_valdate is not a lamina hook (did you mean lamina_validate?)"),
    (API + "def lamina_validate(config, bundle):\n    return ['never called']\n",
     "lamina_validate is not marked with @lamina.hookimpl"),
], ids=["raises", "missing-dependency", "misspelled-hook", "unmarked-hook"])
def test_broken_plugin_is_a_load_error(lamina, bundle, temp_plugin, source, expect):
    # a container made before the broken plugin arrived
    b0 = bundle(["sleep", "60"])
    assert lamina.create(b0, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    temp_plugin("broken", source)
    b = bundle(["true"])
    for verb in ("create", "run"):
        line = refused(lamina, b, lamina(verb, "--bundle", b.path, b.id), expect)
        assert "plugin broken" in line
    for verb in (("plugins",), ("features",), ("delete", b0.id)):
        p = lamina(*verb)
        assert p.returncode == 1 and expect in p.stderr and len(p.stderr.splitlines()) == 1, verb
    # the hot path imports no plugin: it does not even notice
    assert lamina.state(b0.id)["status"] == "created"
    assert lamina("start", b0.id).returncode == 0
    assert lamina("kill", b0.id, "CONT").returncode == 0
    p = lamina("list", "--format", "json")
    assert p.returncode == 0 and b0.id in [c["id"] for c in json.loads(p.stdout)]
    # the admin can still get rid of it: disable it
    lamina.admin = None
    lamina.pythonpath.clear()
    assert lamina("delete", "--force", b0.id).returncode == 0


def test_disabled_broken_plugin_is_never_imported(lamina, bundle, temp_plugin, admin_file):
    temp_plugin("broken", API + "raise RuntimeError('imported anyway')\n")
    admin = admin_file('[plugins]\ndisable = ["broken"]\n')
    b = bundle(["true"])
    p = lamina.run(b, admin=admin)
    assert p.returncode == 0, p.stderr
    assert installed_with(lamina, admin)["broken"]["enabled"] is False


def test_entry_point_to_a_missing_attribute(lamina, bundle, tmp_path):
    d = str(tmp_path / "site")
    testing.install_plugin(d, "badattr", API, module="lamina_test_badattr")
    with open(os.path.join(d, "lamina_test_badattr-0.0.1.dist-info", "entry_points.txt"), "w") as f:
        f.write("[lamina.plugins]\nbadattr = lamina_test_badattr:no_such_object\n")
    lamina.pythonpath.append(d)
    b = bundle(["true"])
    refused(lamina, b, lamina.run(b), "plugin badattr (lamina_test_badattr:no_such_object) failed to load: "
                                      "AttributeError")


def test_two_plugins_of_one_name(lamina, bundle, temp_plugin):
    temp_plugin("namespaces", API, dist="impostor-namespaces")
    b = bundle(["true"])
    refused(lamina, b, lamina.run(b), "two plugins are named namespaces")


# ---------------------------------------------------------------- plugins that fail while working


FAILING = {
    "validate-raises": ("lamina_validate(config, bundle)", "raise RuntimeError('validator crashed')",
                        "validator crashed"),
    "prepare-raises": ("lamina_prepare(ctx)", "raise RuntimeError('prepare crashed')", "prepare crashed"),
    "prepare-lamina-error": ("lamina_prepare(ctx)", "from lamina.errors import LaminaError\n"
                                                    "    raise LaminaError('acme: no licence')",
                             "acme: no licence"),
    "rootfs-raises": ("lamina_init_rootfs(ctx)", "raise OSError(5, 'Input/output error', '/acme')",
                      "/acme: input/output error"),
    "privileges-raises": ("lamina_init_after_privileges(ctx)", "raise ValueError('late crash')",
                          "ValueError: late crash"),
    "created-raises": ("lamina_created(ctx)", "raise RuntimeError('created crashed')", "created crashed"),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_failing_plugin_leaves_nothing(lamina, bundle, temp_plugin, case):
    """A plugin that raises at any phase: one line naming the problem, exit 1, nothing left."""
    sig, body, expect = FAILING[case]
    temp_plugin("failing", API + f"from lamina import hookimpl\n@hookimpl\ndef {sig}:\n    {body}\n")
    b = bundle(["sleep", "60"])
    before = mounts(b.path, lamina.root)
    for verb in ("create", "run"):
        p = lamina(verb, "--bundle", b.path, b.id, timeout=60)
        refused(lamina, b, p, expect)
        assert mounts(b.path, lamina.root) == before
