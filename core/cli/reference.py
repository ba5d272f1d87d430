"""docs/cli.md, written from the verbs' own declarations so that it cannot drift from them.

    python -m lamina.cli.reference > docs/cli.md

tests/unit/test_cli_reference.py fails when the committed page differs from this output.
"""

from __future__ import annotations

from lamina.cli.main import GLOBALS, VERBS, _verb
from lamina.cli.params import REQUIRED, Arg, Opt

INTRO = """\
# CLI reference

`lamina [global options] VERB [options] [arguments]`: global options come before the verb, as
with runc. Options take their value as `--opt value` or `--opt=value`. Exit codes: 0 on success, 1
for a runtime error (one line on stderr, `lamina: …`), 255 when `exec` fails before its process
runs; `run` and `exec` in the foreground exit with the process's own code (128 + the signal when
it was killed). `lamina VERB --help` prints the same as this page.

This page is generated from the declarations in `core/cli/commands/` by
`python -m lamina.cli.reference`; a unit test fails when it is out of date.
"""


def _opt(p: Opt) -> str:
    names = ", ".join(f"`{d}`" for d in p.decls)
    if p.flag:
        value = ""
    elif p.choices:
        value = " " + " or ".join(f"`{c}`" for c in p.choices)
    elif p.range:
        value = f" `N` ({p.range[0]}–{p.range[1]})"
    elif p.kind is int:
        value = " `N`"
    else:
        value = " `VALUE`"
    extra = []
    if p.multiple:
        extra.append("repeatable")
    if p.default not in (None, False, 0) or p.show_default:
        extra.append(f"default `{p.default}`")
    tail = f" ({'; '.join(extra)})" if extra else ""
    return f"| {names}{value} | {p.help or ''}{tail} |"


def _usage(name: str, params: tuple) -> str:
    parts = [f"lamina {name}"]
    if any(isinstance(p, Opt) for p in params):
        parts.append("[options]")
    for p in params:
        if isinstance(p, Arg):
            label = p.name.upper()
            parts.append(f"[{label}...]" if p.rest else label if p.default is REQUIRED else f"[{label}]")
    return " ".join(parts)


def render() -> str:
    out = [INTRO, "## Global options", "", "| option | meaning |", "| --- | --- |"]
    out += [_opt(p) for p in GLOBALS]
    for name in sorted(VERBS):
        verb = _verb(name)
        out += ["", f"## `{name}`", "", verb.HELP, "", "```", _usage(name, verb.PARAMS), "```"]
        if not getattr(verb, "INTERSPERSED", True):
            out += ["", "Everything after the container id belongs to the command, options included."]
        opts = [p for p in verb.PARAMS if isinstance(p, Opt)]
        if opts:
            out += ["", "| option | meaning |", "| --- | --- |"] + [_opt(p) for p in opts]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
