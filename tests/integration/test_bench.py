"""The benchmark works: a fast selection runs against lamina, runc and crun, prints ratios,
writes its JSON and leaves no state, bundle or cgroup behind."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "bench", "bench.py")
LAMINA = os.path.join(os.path.dirname(sys.executable), "lamina")

pytestmark = pytest.mark.integration


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("the bench starts real containers: needs root")


def test_bench_state_prints_ratios_and_cleans_up(root_only, tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, BENCH, "--lamina", LAMINA, "--runs", "2", "--only", "state",
                        "--json", str(out)], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    row = next((ln for ln in p.stdout.splitlines() if ln.startswith("state")), None)
    assert row is not None, p.stdout
    assert re.search(r"\d+\.\d\dx", row), f"no ratio in {row!r}"
    assert "lamina/runc" in p.stdout

    report = json.loads(out.read_text())
    lam, runc = report["results"]["lamina"]["state"], report["results"]["runc"]["state"]
    assert lam["n"] == runc["n"] == 2 and lam["median"] > 0 and runc["median"] > 0
    assert report["ratios"]["state"]["lamina/runc"] == pytest.approx(lam["median"] / runc["median"])
    crun = report["runtime_info"]["crun"]
    # crun runs here only in a private mount namespace; if it cannot, the bench says why
    assert "median" in report["results"]["crun"].get("state", {}) or crun["skipped"]
    assert report["cleanup_problems"] == []

    token = report["token"]
    assert not glob.glob(f"/var/tmp/lamina-bench/{token}*")
    assert not glob.glob(f"/sys/fs/cgroup/*/lamina-bench/{token}-*")


def test_bench_refuses_an_unknown_scenario():
    p = subprocess.run([sys.executable, BENCH, "--only", "nosuch"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2
    assert "'nosuch': expected a comma-separated list of run, cycle, state, parallel, memory" in p.stderr
