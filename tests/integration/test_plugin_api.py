"""The plugin API as a third party meets it: every hook is really called, and mistakes that pluggy
would let pass silently (a misspelled hook, a missing marker, another hook API) are load errors.

The recording plugin implements every hookspec and appends one JSON line per call to a file it
opened at import (on the host side, so the init can still write to it after pivot_root); one
real create/start/exec/pause/resume/ps/kill/delete cycle must call each hook at least once.
"""

from __future__ import annotations

import inspect as pyinspect
import json
import os
import subprocess
import sys

import pytest
from lamina import hookspecs, testing
from lamina.cli.main import VERBS

pytestmark = pytest.mark.integration

FIRSTRESULT_DEFAULTS = {"lamina_init_user_namespace": "False", "lamina_claims": "[]", "lamina_validate": "[]",
                        "lamina_features": "{}"}


def spec_functions() -> dict:
    return {n: getattr(hookspecs, n) for n in dir(hookspecs) if n.startswith("lamina_")}


def recorder_source(record: str) -> str:
    """A plugin with one implementation per hookspec, generated from the specs themselves."""
    lines = ["import json, os", "from lamina import hookimpl",
             f"LAMINA_HOOK_API = {hookspecs.HOOK_API_VERSION}",
             f"_fd = os.open({record!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)",
             "def _rec(hook, ctx=None):",
             "    os.write(_fd, (json.dumps({'hook': hook, 'pid': os.getpid(),",
             "                               'stage': getattr(ctx, 'stage', None)}) + '\\n').encode())", ""]
    for name, spec in sorted(spec_functions().items()):
        args = list(pyinspect.signature(spec).parameters)
        # first-result hooks: be called first and pass, so the built-in implementation still acts
        first = getattr(spec, "lamina_spec", {}).get("firstresult")
        lines.append("@hookimpl(tryfirst=True)" if first else "@hookimpl")
        lines.append(f"def {name}({', '.join(args)}):")
        lines.append(f"    _rec({name!r}, {'ctx' if 'ctx' in args else 'None'})")
        lines.append(f"    return {FIRSTRESULT_DEFAULTS.get(name, 'None')}")
        lines.append("")
    return "\n".join(lines)


def _in_process(lamina, code: str) -> subprocess.CompletedProcess:
    """Run Python with the test's plugins visible: for a facade method no verb calls yet."""
    return subprocess.run([sys.executable, "-c", code], env=lamina.env(), capture_output=True, text=True,
                          timeout=60)


def test_every_hook_is_called_in_a_real_lifecycle(lamina, bundle, temp_plugin, subreaper, tmp_path):
    record = str(tmp_path / "calls.jsonl")
    temp_plugin("recorder", recorder_source(record))
    cfg = testing.base_config(["/bin/sleep", "60"])
    # a user namespace (for lamina_write_id_maps) and a poststart hook (for lamina_started)
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    cfg["hooks"] = {"poststart": [{"path": "/bin/true"}]}
    b = bundle(config=cfg)
    assert lamina("features").returncode == 0
    p = lamina.create(b)
    assert p.returncode == 0, p.stderr
    assert lamina("start", b.id).returncode == 0
    p = lamina("exec", b.id, "/bin/true")
    assert p.returncode == 0, p.stderr
    assert lamina("pause", b.id).returncode == 0
    assert lamina("resume", b.id).returncode == 0
    for verb, argv, facade in (
            # `ps` reads the cgroup itself when the cgroups plugin recorded it: ask the hook
            ("lamina_processes", (), "processes(ctx)"),
            ("events", ("events", "--stats", b.id), "stats(ctx)"),
            ("update", ("update", "--pids-limit", "100", b.id), "update(ctx, {'pids': {'limit': 100}})")):
        if verb in VERBS:  # through the verb once it exists, else through the facade
            p = lamina(*argv)
        else:
            p = _in_process(lamina, "from lamina.container import Container\n"
                                    "from lamina.pluginmanager import Plugins\n"
                                    f"ctx = Container.load({lamina.root!r}, {b.id!r}).context()\n"
                                    f"print(Plugins().{facade})")
        assert p.returncode == 0, (verb, p.stderr)
    assert lamina("kill", "--all", b.id, "KILL").returncode == 0
    assert lamina("delete", "--force", b.id).returncode == 0
    calls = testing.read_jsonl(record)
    called = {c["hook"] for c in calls}
    missing = sorted(set(spec_functions()) - called)
    assert not missing, f"hooks never called in a real lifecycle: {missing}"
    # the container-side hooks ran in the init (a child of the lamina process) and in exec
    stages = {c["stage"] for c in calls if c["hook"] == "lamina_init_privileges"}
    assert stages == {"init", "exec"}


def test_builtin_plugins_need_no_declaration(lamina):
    rows = {r["name"]: r for r in lamina.plugins()}
    assert {"namespaces", "rootfs", "process", "policy"} <= set(rows)
    assert rows["landlock"]["distribution"] == "lamina-landlock"


BROKEN = {
    "misspelled": ("from lamina import hookimpl\nLAMINA_HOOK_API = 2\n"
                   "@hookimpl\ndef lamina_prepair(ctx):\n    pass\n",
                   "lamina_prepair is not a lamina hook (did you mean lamina_prepare?)"),
    "unmarked": ("LAMINA_HOOK_API = 2\ndef lamina_prepare(ctx):\n    pass\n",
                 "lamina_prepare is not marked with @lamina.hookimpl"),
    "wrong-args": ("from lamina import hookimpl\nLAMINA_HOOK_API = 2\n"
                   "@hookimpl\ndef lamina_prepare(ctx, extra):\n    pass\n",
                   "cannot be registered"),
    "undeclared": ("from lamina import hookimpl\n@hookimpl\ndef lamina_prepare(ctx):\n    pass\n",
                   "does not declare LAMINA_HOOK_API"),
    "too-new": ("LAMINA_HOOK_API = 999\n", "needs hook API 999"),
    "too-old": ("LAMINA_HOOK_API = 0\n", "was written for hook API 0"),
    "import-error": ("import lamina_no_such_module\n", "failed to load: ModuleNotFoundError"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_plugin_mistakes_are_load_errors(lamina, temp_plugin, bundle, case):
    source, message = BROKEN[case]
    temp_plugin("broken", source)
    b = bundle()
    for verb in (("plugins",), ("create", "--bundle", b.path, b.id)):
        p = lamina(*verb)
        assert p.returncode == 1, (verb, p.stdout)
        assert message in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(lamina.root, b.id))


def test_a_correct_third_party_plugin_loads_and_claims(lamina, temp_plugin, bundle, subreaper):
    temp_plugin("acme", "from lamina import hookimpl\nLAMINA_HOOK_API = 2\n"
                        "@hookimpl\ndef lamina_claims():\n    return ['annotations.org.lamina.acme']\n"
                        "@hookimpl\ndef lamina_audit(ctx):\n    return {'hello': ctx.id}\n",
                dist="acme-lamina", version="1.2.3")
    rows = {r["name"]: r for r in lamina.plugins()}
    assert rows["acme"]["distribution"] == "acme-lamina" and rows["acme"]["version"] == "1.2.3"
    assert rows["acme"]["claims"] == ["annotations.org.lamina.acme"]
    cfg = testing.base_config(["/bin/true"])
    cfg["annotations"] = {"org.lamina.acme.level": "high"}
    b = bundle(config=cfg)
    p = lamina.create(b)
    assert p.returncode == 0, p.stderr
    assert lamina.inspect(b.id)["audit"]["applied"]["acme"] == {"hello": b.id}


def test_a_hook_under_another_name_is_registered(lamina, temp_plugin):
    """@hookimpl(specname=...) on a function without the hook prefix, beside imports and helpers:
    the registration shortcut (lamina.pluginmanager) must still find it."""
    temp_plugin("alias", "import os\nfrom lamina import hookimpl\nLAMINA_HOOK_API = 2\n"
                         "def helper():\n    return 1\n"
                         "@hookimpl(specname='lamina_claims')\ndef my_claims():\n"
                         "    return ['annotations.org.lamina.alias']\n")
    rows = {r["name"]: r for r in lamina.plugins()}
    assert rows["alias"]["claims"] == ["annotations.org.lamina.alias"]
    assert rows["alias"]["hooks"] == ["lamina_claims"]


def test_unclaimed_lamina_annotation_is_refused(lamina, bundle):
    """An org.lamina.* annotation asks a plugin for something: with no plugin to honour it the
    container is refused, not run without it (and no annotation can switch a plugin off)."""
    cfg = testing.base_config(["/bin/true"])
    cfg["annotations"] = {"org.lamina.policy.disable": "true", "com.example.note": "free text is fine"}
    b = bundle(config=cfg)
    p = lamina.run(b)
    assert p.returncode == 1
    assert "no enabled plugin honours annotations.org.lamina.policy.disable" in p.stderr
    assert "com.example.note" not in p.stderr
    assert not os.path.exists(os.path.join(lamina.root, b.id))


def test_recorder_source_is_valid_python(tmp_path):
    compile(recorder_source(str(tmp_path / "x")), "recorder", "exec")
    assert json.loads(json.dumps(FIRSTRESULT_DEFAULTS))
