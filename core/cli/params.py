"""The command line, declared once and read two ways.

Each verb module (lamina.cli.commands.*) declares ``HELP``, ``PARAMS`` (a tuple of Arg and Opt)
and a plain ``main(g, **params)``. click builds its commands from these declarations
(lamina.cli.clickbuild) for help, usage errors and anything unusual; for the common case,
:func:`parse` reads the same declarations without importing click at all: click costs ~13 ms
of interpreter time on every container operation, more than `runc state` takes in all.
:func:`parse` returns None whenever it is not certain to read argv exactly as click would, and
the caller then asks click. This module must stay free of heavy imports.
"""

from __future__ import annotations

REQUIRED = object()


class Arg:
    """A positional argument; ``rest`` takes everything that follows, unparsed (exec, ps)."""

    __slots__ = ("name", "default", "rest")

    def __init__(self, name: str, default: object = REQUIRED, rest: bool = False) -> None:
        self.name, self.default, self.rest = name, default, rest


class Opt:
    """An option: ``flag`` takes no value; ``kind`` is str or int; ``choices`` or ``range``
    restrict the value; ``multiple`` collects repeated uses into a tuple."""

    __slots__ = ("decls", "dest", "flag", "multiple", "default", "kind", "choices", "range", "help",
                 "show_default")

    def __init__(self, *decls: str, dest: str | None = None, flag: bool = False, multiple: bool = False,
                 default: object = None, kind: type = str, choices: tuple[str, ...] | None = None,
                 range: tuple[int, int] | None = None, help: str = "", show_default: bool = False) -> None:
        self.decls = decls
        self.dest = dest or decls[0].lstrip("-").replace("-", "_")
        self.flag, self.multiple, self.kind = flag, multiple, kind
        self.default = False if flag and default is None else default
        self.choices, self.range, self.help, self.show_default = choices, range, help, show_default

    def convert(self, text: str) -> object:
        """The value as click would give it; raises ValueError where click would complain."""
        if self.kind is int or self.range:
            value = int(text.strip())
            if self.range and not self.range[0] <= value <= self.range[1]:
                raise ValueError(text)
            return value
        if self.choices is not None and text not in self.choices:
            raise ValueError(text)
        return text


def parse(argv: list[str], params: tuple, interspersed: bool = True) -> dict[str, object] | None:
    """argv (after the verb) -> the keyword arguments of the verb's main, or None for click."""
    opts = {d: p for p in params if isinstance(p, Opt) for d in p.decls}
    args = [p for p in params if isinstance(p, Arg)]
    values: dict[str, object] = {p.dest: [] if p.multiple else p.default
                                 for p in params if isinstance(p, Opt)}
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if positionals and not interspersed:
            positionals.append(a)
            continue
        if a in ("-h", "--help", "--"):
            return None
        if a.startswith("-") and a != "-":
            name, eq, text = a.partition("=") if a.startswith("--") else (a, "", "")
            p = opts.get(name)
            if p is None:
                return None
            if p.flag:
                if eq:
                    return None
                values[p.dest] = True
                continue
            if not eq:
                if i >= len(argv):
                    return None
                text = argv[i]
                i += 1
            try:
                value = p.convert(text)
            except ValueError:
                return None
            if p.multiple:
                values[p.dest].append(value)
            else:
                values[p.dest] = value
            continue
        positionals.append(a)
    for p in params:
        if isinstance(p, Opt) and p.multiple:
            values[p.dest] = tuple(values[p.dest])
    for arg in args:
        if arg.rest:
            values[arg.name] = tuple(positionals)
            positionals = []
        elif positionals:
            values[arg.name] = positionals.pop(0)
        elif arg.default is REQUIRED:
            return None
        else:
            values[arg.name] = arg.default
    return None if positionals else values


def parse_globals(argv: list[str], params: tuple) -> tuple[dict[str, object], str, list[str]] | None:
    """The global options before the verb: (their values, the verb, the verb's own argv), or
    None for click. An option's value may look like anything (``--root /x``): walk them."""
    opts = {d: p for p in params for d in p.decls}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-") or a == "-":
            values = parse(argv[:i], params)
            return None if values is None else (values, a, argv[i + 1:])
        name, eq, _ = a.partition("=")
        p = opts.get(name)
        if p is None:
            return None
        i += 1 if p.flag or eq else 2
    return None
