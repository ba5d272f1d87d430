"""lamina.log writes the shapes clients parse: logrus-like JSON lines or text, plain errors on stderr."""

from __future__ import annotations

import json
import re

import pytest
from lamina import log

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


@pytest.fixture(autouse=True)
def _reset():
    saved = dict(log._settings)
    yield
    log._settings.update(saved)


def test_json_error_is_one_object_line_and_plain_stderr(tmp_path, capsys):
    path = tmp_path / "log.json"
    log.configure(str(path), "json", False)
    log.error("container x does not exist")
    text = path.read_text()
    assert text.endswith("\n") and text.count("\n") == 1
    # podman json-decodes the whole file: with one error it must be exactly one object
    rec = json.loads(text)
    assert list(rec) == ["level", "msg", "time"]
    assert rec["level"] == "error" and rec["msg"] == "container x does not exist"
    assert RFC3339_NANO.match(rec["time"]), rec["time"]
    # logrus's compact form, which line-matching clients see
    assert text.startswith('{"level":"error","msg":"container x does not exist","time":"')
    assert capsys.readouterr().err == "lamina: container x does not exist\n"


def test_json_lines_append_and_escape(tmp_path):
    path = tmp_path / "log.json"
    path.write_text('{"level":"info","msg":"earlier","time":"t"}\n')
    log.configure(str(path), "json", False)
    log.error('bad "quote"\nand a newline')
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["msg"] == "earlier"
    assert json.loads(lines[1])["msg"] == 'bad "quote"\nand a newline'


def test_text_format_is_logrus_shaped_and_one_line(tmp_path, capsys):
    path = tmp_path / "log.txt"
    log.configure(str(path), "text", False)
    log.error('no "such" thing')
    line = path.read_text()
    assert line.count("\n") == 1
    m = re.match(r'^time="([^"]+)" level=error msg="no \\"such\\" thing"\n$', line)
    assert m and RFC3339_NANO.match(m.group(1)), line
    assert capsys.readouterr().err == 'lamina: no "such" thing\n'


def test_no_log_file_errors_only_on_stderr(tmp_path, capsys):
    log.configure(None, "json", False)
    log.error("boom")
    log.warning("careful")
    err = capsys.readouterr().err
    assert err == "lamina: boom\nlamina: warning: careful\n"
    assert list(tmp_path.iterdir()) == []


def test_warning_with_log_file_goes_to_the_file_only(tmp_path, capsys):
    path = tmp_path / "log.json"
    log.configure(str(path), "json", False)
    log.warning("careful")
    assert json.loads(path.read_text())["level"] == "warning"
    assert capsys.readouterr().err == ""


def test_debug_only_with_debug(tmp_path, capsys):
    path = tmp_path / "log.json"
    log.configure(str(path), "json", False)
    log.debug("hidden")
    assert not path.exists()
    log.configure(str(path), "json", True)
    log.debug("shown")
    assert json.loads(path.read_text()) | {"time": ""} == {"level": "debug", "msg": "shown", "time": ""}
    log.configure(None, "text", True)
    log.debug("to stderr")
    assert capsys.readouterr().err == "lamina: debug: to stderr\n"


def test_unwritable_log_file_does_not_hide_the_error(tmp_path, capsys):
    log.configure(str(tmp_path / "missing-dir" / "log.json"), "json", False)
    log.error("still reported")
    assert capsys.readouterr().err == "lamina: still reported\n"
