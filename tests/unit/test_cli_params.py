"""The click-free reader of argv (lamina.cli.params) against click itself.

For every verb and a range of command lines, the fast reader must either give exactly the
parameters click would give, or step aside (None) so that click decides. Never a third answer.
"""

from __future__ import annotations

import click
import pytest
from lamina.cli import clickbuild, params
from lamina.cli.main import GLOBALS, VERBS, _verb

SAMPLES = {
    "state": [["c1"], [], ["c1", "c2"], ["--help"], ["-x", "c1"]],
    "start": [["c1"]],
    "kill": [["c1"], ["c1", "KILL"], ["-a", "c1", "9"], ["c1", "--all"], ["--all", "c1", "TERM"],
             ["c1", "-9"], ["c1", "TERM", "extra"], ["-aa", "c1"]],
    "delete": [["c1"], ["-f", "c1"], ["--force", "c1"], ["c1", "-f"], ["--force=1", "c1"]],
    "list": [[], ["-q"], ["--format", "json"], ["--format=json", "-q"], ["-f", "table"], ["--format", "yaml"],
             ["--format"]],
    "create": [["c1"], ["--bundle", "/b", "c1"], ["-b", "/b", "--pid-file", "/p", "c1"], ["c1", "-b", "/b"],
               ["--preserve-fds", "2", "c1"], ["--preserve-fds=3", "c1"], ["--preserve-fds", "x", "c1"],
               ["--preserve-fds", "70000", "c1"], ["--no-pivot", "--no-new-keyring", "c1"],
               ["--console-socket", "/s", "c1"], ["--bundle", "-b", "c1"], ["-b/b", "c1"]],
    "run": [["c1"], ["-d", "c1"], ["--detach", "--keep", "-b", "/b", "c1"], ["c1", "--keep"]],
    "exec": [["c1", "ls"], ["c1", "ls", "-l", "--color"], ["-t", "c1", "sh"],
             ["-e", "A=1", "-e", "B=2", "c1", "env"], ["--user", "1000:1000", "--cwd", "/tmp", "c1", "id"],
             ["-g", "5", "-g", "6", "c1", "id"], ["-g", "x", "c1", "id"], ["-p", "/proc.json", "c1"],
             ["--detach", "--pid-file", "/p", "c1", "sleep", "1"],
             ["c1", "--", "ls"], ["c1"], ["-c", "CAP_SYS_ADMIN", "--no-new-privs", "c1", "true"]],
    "ps": [["c1"], ["c1", "-ef"], ["--format", "json", "c1"], ["c1", "--", "-o", "pid"],
           ["-f", "json", "c1", "aux"]],
    "pause": [["c1"]],
    "resume": [["c1"]],
    "events": [["c1"], ["--stats", "c1"], ["--interval", "1s", "c1"]],
    "update": [["c1", "--memory", "64m"], ["--pids-limit", "10", "c1"], ["--cpu-shares", "512", "c1"],
               ["--cpu-share", "2", "c1"], ["-r", "-", "c1"], ["--pids-limit", "ten", "c1"]],
    "spec": [[], ["--rootless"], ["-b", "/b"]],
    "features": [[], ["x"]],
    "plugins": [[], ["--format", "json"]],
    "inspect": [["c1"], ["-f", "json", "c1"]],
    "check": [[], ["/b"], ["--format", "json", "/b"]],
}


def click_params(verb, argv: list[str]) -> dict | None:
    cmd = clickbuild.command("x", verb)
    try:
        ctx = cmd.make_context("x", list(argv), resilient_parsing=False)
    except (click.exceptions.Exit, click.ClickException):
        return None
    return dict(ctx.params)


def test_every_verb_has_samples():
    assert set(SAMPLES) == set(VERBS)


@pytest.mark.parametrize("name,argv", [(n, a) for n, samples in SAMPLES.items() for a in samples],
                         ids=lambda v: v if isinstance(v, str) else " ".join(v) or "-")
def test_fast_reader_agrees_with_click_or_steps_aside(name, argv):
    verb = _verb(name)
    fast = params.parse(argv, verb.PARAMS, getattr(verb, "INTERSPERSED", True))
    slow = click_params(verb, argv)
    if fast is not None:
        assert fast == slow, f"{name} {argv}: fast {fast} != click {slow}"


def test_fast_reader_takes_the_plain_cases():
    """It must not step aside for what clients really send, or it would save nothing."""
    for name, argv in [("state", ["c1"]), ("kill", ["c1", "9"]), ("kill", ["--all", "c1", "KILL"]),
                       ("delete", ["--force", "c1"]), ("start", ["c1"]),
                       ("create", ["--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s", "c1"]),
                       ("exec", ["--process", "/p.json", "--detach", "--pid-file", "/p", "c1"]),
                       ("ps", ["--format", "json", "c1"]), ("run", ["-d", "-b", "/b", "c1"])]:
        verb = _verb(name)
        assert params.parse(argv, verb.PARAMS, getattr(verb, "INTERSPERSED", True)) is not None, (name, argv)


GLOBAL_SAMPLES = [["--root", "/r", "state", "c1"], ["--root=/r", "state"],
                  ["--log", "/l", "--log-format=json", "kill"], ["--log-format", "json", "--debug", "list"],
                  ["--systemd-cgroup", "run"], ["--rootless", "true", "ps"], ["--log-format", "yaml", "list"],
                  ["--version"], ["--help"], ["--root"], ["state"], ["-x", "list"]]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("argv", GLOBAL_SAMPLES, ids=" ".join)
def test_fast_globals_agree_with_click(argv):
    fast = params.parse_globals(argv, GLOBALS)
    group = click.Group("lamina", params=[clickbuild.param(p) for p in GLOBALS])
    group.add_command(click.Command("state"))
    for name in ("kill", "list", "run", "ps"):
        group.add_command(click.Command(name, params=[click.Argument(["rest"], nargs=-1)]))
    try:
        ctx = group.make_context("lamina", list(argv))
    except (click.exceptions.Exit, click.ClickException):
        ctx = None
    if fast is not None:
        assert ctx is not None
        values, verb, rest = fast
        assert values == ctx.params and [verb, *rest] == ctx.protected_args + ctx.args
