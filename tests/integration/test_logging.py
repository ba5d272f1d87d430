"""`--log FILE --log-format json|text` as podman (whole file = one object) and containerd (last
error line) read it, with the plain message on stderr too."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

pytestmark = pytest.mark.integration

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def run_logged(lamina, log: str, fmt_flags: list[str], *args: str) -> subprocess.CompletedProcess:
    """One lamina command with --log; stdio through files (a created container keeps them open)."""
    import tempfile

    lamina._remember(args)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run([lamina.binary, "--root", lamina.root, "--log", log, *fmt_flags, *args],
                           stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=lamina.env(), timeout=60)
        out.seek(0)
        err.seek(0)
        p.stdout, p.stderr = out.read().decode(), err.read().decode()
    return p


def podman_reads(path: str) -> dict:
    """What podman does: json-decode the whole file into one object (then use its msg)."""
    with open(path) as f:
        return json.loads(f.read())


@pytest.mark.parametrize("fmt_flags", [["--log-format=json"], ["--log-format", "json"]])
def test_one_error_is_one_json_object(lamina, tmp_path, fmt_flags):
    log = str(tmp_path / "log.json")
    p = run_logged(lamina, log, fmt_flags, "state", "lt-never-made")
    assert p.returncode == 1 and p.stdout == ""
    rec = podman_reads(log)
    assert rec["level"] == "error"
    assert rec["msg"] == "container lt-never-made does not exist"
    assert TIME.match(rec["time"]), rec["time"]
    assert p.stderr == "lamina: container lt-never-made does not exist\n"


def test_config_errors_are_one_line(lamina, bundle, tmp_path):
    b = bundle(["true"])
    b.config["process"]["args"] = []
    b.config["process"]["cwd"] = "relative"
    b.write()
    log = str(tmp_path / "log.json")
    p = run_logged(lamina, log, ["--log-format", "json"], "create", "--bundle", b.path, b.id)
    assert p.returncode == 1
    rec = podman_reads(log)
    assert rec["level"] == "error"
    assert "process.args" in rec["msg"] and "process.cwd" in rec["msg"]
    assert p.stderr == f"lamina: {rec['msg']}\n"
    assert not os.path.exists(os.path.join(lamina.root, b.id))


def test_kill_of_a_stopped_container_logged(lamina, bundle, tmp_path):
    b = bundle(["true"])
    assert lamina.run(b, "--keep").returncode == 0
    log = str(tmp_path / "log.json")
    p = run_logged(lamina, log, ["--log-format", "json"], "kill", b.id, "TERM")
    assert p.returncode == 1
    assert "container not running" in podman_reads(log)["msg"]


def test_errors_append_and_the_last_line_is_the_latest(lamina, tmp_path):
    """containerd reads the last error line of a log that several commands appended to."""
    log = str(tmp_path / "log.json")
    for cid in ("lt-first", "lt-second"):
        assert run_logged(lamina, log, ["--log-format", "json"], "state", cid).returncode == 1
    lines = open(log).read().splitlines()
    assert len(lines) == 2
    assert [json.loads(ln)["msg"] for ln in lines] == ["container lt-first does not exist",
                                                      "container lt-second does not exist"]


def test_success_writes_no_error(lamina, bundle, tmp_path):
    b = bundle(["true"])
    log = str(tmp_path / "log.json")
    p = run_logged(lamina, log, ["--log-format", "json"], "run", "--bundle", b.path, b.id)
    assert p.returncode == 0 and p.stderr == ""
    assert not os.path.exists(log) or open(log).read() == ""
    p = run_logged(lamina, log, ["--log-format", "json"], "list", "--format", "json")
    assert p.returncode == 0 and p.stderr == "" and json.loads(p.stdout) == []


def test_usage_error_is_logged_too(lamina, tmp_path):
    log = str(tmp_path / "log.json")
    p = run_logged(lamina, log, ["--log-format=json"], "kill")
    assert p.returncode == 1
    rec = podman_reads(log)
    assert rec["level"] == "error" and "missing argument" in rec["msg"]


def test_text_format(lamina, tmp_path):
    log = str(tmp_path / "log.txt")
    p = run_logged(lamina, log, ["--log-format", "text"], "state", "lt-never-made")
    assert p.returncode == 1
    line = open(log).read()
    assert re.match(r'^time="[^"]+" level=error msg="container lt-never-made does not exist"\n$', line), line
    p = run_logged(lamina, str(tmp_path / "default.txt"), [], "state", "lt-never-made")
    assert "level=error" in open(tmp_path / "default.txt").read()  # text is the default


def test_debug_goes_to_the_log_and_state_stays_clean(lamina, bundle, tmp_path):
    b = bundle(["sleep", "100"])
    assert lamina.create(b).returncode == 0
    log = str(tmp_path / "log.json")
    p = run_logged(lamina, log, ["--log-format", "json", "--debug"], "state", b.id)
    assert p.returncode == 0 and p.stderr == ""
    assert json.loads(p.stdout)["status"] == "created"
    recs = [json.loads(ln) for ln in open(log).read().splitlines()]
    assert recs and all(r["level"] == "debug" for r in recs)
    assert any("state" in r["msg"] for r in recs)
    # without --debug there is nothing to log for a successful state
    log2 = str(tmp_path / "log2.json")
    assert run_logged(lamina, log2, ["--log-format", "json"], "state", b.id).returncode == 0
    assert not os.path.exists(log2)


def test_log_without_format_flag_and_stderr_always_plain(lamina, tmp_path):
    """stderr never carries JSON: clients show it to people as it is."""
    log = str(tmp_path / "log.json")
    p = run_logged(lamina, log, ["--log-format", "json"], "delete", "lt-never-made")
    assert p.returncode == 1
    assert p.stderr.startswith("lamina: ") and "{" not in p.stderr
