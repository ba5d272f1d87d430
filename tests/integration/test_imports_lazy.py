"""`lamina run` imports only what the container's config needs.

Every container operation starts a fresh interpreter, so every module imported on the way is
paid on every `run`. The plugins import their heavy helpers (hashlib for the seccomp digest,
subprocess for OCI hooks, the cgroup controllers, the SELinux label code, ...) only for a config
that uses them, and use plain classes instead of dataclasses. These tests run the real CLI in a
fresh interpreter and read its ``sys.modules`` when ``main()`` returns: a default bundle must
not pull in any of the heavy modules; a config that needs them (seccomp, a startContainer hook,
which the init runs after pivot_root) must have them imported on the host side.
"""

from __future__ import annotations

import subprocess

import pytest
from lamina import testing

pytestmark = pytest.mark.integration

HEAVY = ("hashlib", "subprocess", "dataclasses", "selectors", "threading")

# runs the CLI as the console script does; when the lamina process leaves (os._exit, as lamina
# does, or a normal exit) the names in its sys.modules go to argv[1]
WRAPPER = """
import os, sys
out, me, leave = sys.argv.pop(1), os.getpid(), os._exit
def dump():
    if os.getpid() == me:  # not a forked child of lamina's
        with open(out, "w") as f:
            f.write("\\n".join(sorted(sys.modules)))
def _exit(code):
    dump()
    leave(code)
os._exit = _exit
from lamina.cli.main import main
try:
    main()
finally:
    dump()
"""


def _python_of(binary: str) -> str:
    """The interpreter of the lamina console script (its #! line)."""
    with open(binary, "rb") as f:
        first = f.readline().decode().strip()
    assert first.startswith("#!"), f"{binary} is not a Python console script: {first!r}"
    return first[2:].split()[0]


def run_modules(lamina, b: testing.Bundle, tmp_path) -> set[str]:
    """`lamina run` of ``b`` in the foreground; the modules its lamina process imported."""
    out = tmp_path / f"modules-{len(list(tmp_path.iterdir()))}.txt"
    lamina.ids.add(b.id)  # deleted at the end of the test even if the run goes wrong
    argv = [_python_of(lamina.binary), "-c", WRAPPER, str(out),
            *lamina.argv("run", "--bundle", b.path, b.id)[1:]]
    p = subprocess.run(argv, env=lamina.env(), capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"lamina run exited {p.returncode}: {p.stderr}"
    return set(out.read_text().split())


def test_default_bundle_imports_nothing_heavy(lamina, bundle, tmp_path):
    b = bundle(["/bin/true"])
    run_modules(lamina, b, tmp_path)  # the first run may rebuild the plugin index (stevedore)
    mods = run_modules(lamina, b, tmp_path)
    assert "lamina.plugins.seccomp.plugin" in mods  # the plugins were loaded: the check means something
    heavy = sorted(m for m in HEAVY if m in mods)
    assert not heavy, (f"a default `lamina run` imported {', '.join(heavy)}; find the importer with "
                       f"`python -X importtime {lamina.binary} run ...`")
    # plugin modules this config has no use for (no limits, no label, no hook, no policy, no Landlock)
    unneeded = sorted(m for m in mods if m.startswith((
        "lamina.plugins.cgroups.controllers.", "lamina.plugins.cgroups.stats",
        "lamina.plugins.ocihooks.runner", "lamina.plugins.policy.rules", "lamina.plugins.seccomp.audit",
        "lamina.plugins.seccomp.compiler", "lamina.plugins.selinux.labels",
        "lamina.plugins.selinux.execcheck", "lamina_landlock.rules", "lamina_landlock.kernel")))
    assert not unneeded, f"a default `lamina run` imported {', '.join(unneeded)}"


def test_what_a_config_needs_is_imported_before_the_fork(lamina, bundle, tmp_path):
    pytest.importorskip("seccomp")  # libseccomp's bindings (python3-seccomp)
    cfg = testing.base_config(["/bin/true"])
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    # run by the init after pivot_root (the path is the container's): the hook runner and
    # subprocess must have been imported on the host side
    cfg["hooks"] = {"startContainer": [{"path": "/bin/true"}]}
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 512}]
    b = bundle(config=cfg)
    mods = run_modules(lamina, b, tmp_path)
    for m in ("hashlib", "subprocess", "lamina.plugins.ocihooks.runner", "lamina.plugins.seccomp.compiler",
              "lamina.plugins.seccomp.audit", "resource"):
        assert m in mods, f"{m} was not imported for a config that needs it"
