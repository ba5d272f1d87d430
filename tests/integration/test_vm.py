"""The suites this host cannot run, run in the test VM (tests/vm): SELinux enforcing (tests marked
``selinux``) and pure cgroup v2 (tests marked ``cgroupv2``).

The image is built once (a few minutes, cached under /var/tmp/lamina-vm); each run boots it under
qemu's software emulation, installs this tree into the guest's venv and runs pytest there. The
guest's summary lines are printed into this test's output; when qemu or the image is not to be
had here the test is skipped and says why.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

pytestmark = pytest.mark.integration

VM_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vm")
# the cgroup tests whose behaviour depends on the layout: the rest (bad input, ps, ...) behaves
# the same on every layout and runs on the host; under software emulation each lamina call costs
# a second or more, so the VM run is kept to what only it can prove
SELECTION = "selinux or cgroupv2"
TIMEOUT = float(os.environ.get("LAMINA_VM_TIMEOUT", "1200"))
SUMMARY = re.compile(r"^(=== lamina-vm|getenforce|FAILED|ERROR|SKIPPED|XFAIL|XPASS|=+ .* =+$|"
                     r"\d+ (passed|failed|skipped|deselected|errors?)\b|no tests ran)")


def _vm():
    if VM_DIR not in sys.path:
        sys.path.insert(0, VM_DIR)
    import vm

    return vm


def test_vm_suites_selinux_enforcing_and_cgroup_v2(capsys):
    if os.environ.get("LAMINA_IN_VM"):
        pytest.skip("already inside the test VM")
    if os.geteuid() != 0:
        pytest.skip("the test VM needs root (image build, qemu)")
    vm = _vm()
    why = vm.qemu_missing()
    if why:
        pytest.skip(why)
    try:
        img = vm.image.build()
    except vm.image.BuildError as e:
        pytest.skip(f"VM image could not be built: {e}")
    res = vm.run(vm.pytest_command(["-m", SELECTION, "-rfEs", "tests"]), timeout=TIMEOUT, img=img)
    print(res.output)  # the whole guest output, shown when this test fails
    summary = [ln for ln in res.output.splitlines() if SUMMARY.match(ln)]
    with capsys.disabled():
        sys.stdout.write("\n" + "\n".join(f"    [vm] {ln}" for ln in summary) + "\n")
    if res.status == 125:
        pytest.fail("the VM reported no exit status; console tail:\n" + res.console[-3000:])
    assert res.status != 5, f"no test in the VM matched -m {SELECTION!r}"
    assert res.status == 0, "the VM suite failed:\n" + "\n".join(summary)
