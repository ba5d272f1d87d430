"""SELinux contexts as strings: their parts, MCS levels and category dominance (pure logic).

A context is ``user:role:type[:level]``; an MLS/MCS level is ``s<N>[:<categories>]`` and a
process may carry a range ``low-high`` (``s0-s0:c0.c1023``). Categories are a comma list of
``cN`` and ``cN.cM`` ranges. The kernel decides access; this module only explains a refusal
(which categories do not match) and quotes a context for a mount option.
"""

from __future__ import annotations

from lamina.values import Value  # plain classes: dataclasses costs ~1 ms of import


class Context(Value):
    __slots__ = ("user", "role", "type", "level")

    def __init__(self, user: str, role: str, type: str, level: str) -> None:
        self.user = user
        self.role = role
        self.type = type
        self.level = level  # "" on a policy without MLS/MCS


class Level(Value):
    __slots__ = ("sensitivity", "categories")

    def __init__(self, sensitivity: int, categories: frozenset[int]) -> None:
        self.sensitivity = sensitivity
        self.categories = categories

    def __str__(self) -> str:
        return f"s{self.sensitivity}" + (":" + format_categories(self.categories) if self.categories else "")


def parse(context: str) -> Context:
    """Split a context; ValueError when it has fewer than three parts."""
    parts = context.split(":", 3)
    if len(parts) < 3 or not all(parts[:3]):
        raise ValueError(f"{context!r} is not an SELinux context (user:role:type[:level])")
    return Context(parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else "")


def parse_categories(text: str) -> frozenset[int]:
    out: set[int] = set()
    for item in filter(None, text.split(",")):
        lo, _, hi = item.partition(".")
        if not lo.startswith("c") or (hi and not hi.startswith("c")):
            raise ValueError(f"{item!r} is not an MCS category (cN or cN.cM)")
        a = int(lo[1:])
        b = int(hi[1:]) if hi else a
        if b < a:
            raise ValueError(f"{item!r}: category range goes backwards")
        out.update(range(a, b + 1))
    return frozenset(out)


def format_categories(cats: frozenset[int]) -> str:
    """The shortest spelling: runs of three or more as cN.cM, others listed."""
    items, run = [], []
    for c in sorted(cats):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            items.append(_run(run))
        run = [c]
    if run:
        items.append(_run(run))
    return ",".join(items)


def _run(run: list[int]) -> str:
    if len(run) >= 3:
        return f"c{run[0]}.c{run[-1]}"
    return ",".join(f"c{c}" for c in run)


def parse_level(text: str) -> Level:
    sens, _, cats = text.partition(":")
    if not sens.startswith("s") or not sens[1:].isdigit():
        raise ValueError(f"{text!r} is not an MLS level (sN[:categories])")
    return Level(int(sens[1:]), parse_categories(cats))


def level_range(level: str) -> tuple[Level, Level]:
    """(low, high) of ``low[-high]``; a single level is both."""
    low, _, high = level.partition("-")
    lo = parse_level(low)
    return lo, parse_level(high) if high else lo


def dominates(a: Level, b: Level) -> bool:
    """a dom b: at least b's sensitivity and every one of b's categories."""
    return a.sensitivity >= b.sensitivity and a.categories >= b.categories


def missing_categories(process: str, file: str) -> str | None:
    """Why a process with context ``process`` cannot read a file labelled ``file`` under MCS
    (its high level must dominate the file's), or None when it can or levels are absent."""
    try:
        p, f = parse(process), parse(file)
        if not p.level or not f.level:
            return None
        _, phigh = level_range(p.level)
        _, fhigh = level_range(f.level)
    except ValueError:
        return None
    if dominates(phigh, fhigh):
        return None
    lacks = fhigh.categories - phigh.categories
    what = (f"categories {format_categories(frozenset(lacks))}" if lacks
            else f"sensitivity s{fhigh.sensitivity}")
    return (f"the process level {phigh} does not dominate the file's level {fhigh} "
            f"(it lacks {what}): MCS forbids reading it")


def mount_option(context: str) -> str:
    """``context="..."`` for mount data: quoted, since an MCS level has commas in it."""
    if '"' in context or "\0" in context:
        raise ValueError(f"{context!r}: a context cannot contain quotes or NUL")
    return f'context="{context}"'
