"""Which Landlock layers a container gets: the admin's baseline and the container's own.

Two sources, two layers. The admin file's ``[plugin.landlock]`` gives every container a
baseline; config.json's annotations give the container a layer of its own. Landlock layers
stack: an access is allowed only if *every* layer allows it, so the annotation layer can only
take access away from what the admin's layer leaves, never give any back. That is the whole
trust model in one kernel property.
"""

from __future__ import annotations

from typing import Any

from lamina_landlock import PREFIX

READ_ONLY = PREFIX + "read_only"
READ_WRITE = PREFIX + "read_write"
KEYS = (READ_ONLY, READ_WRITE)
ADMIN_KEYS = ("read_only", "read_write", "min_abi")


class Layer:
    __slots__ = ("source", "read_only", "read_write", "where")

    def __init__(self, source: str, read_only: list[str] | None = None, read_write: list[str] | None = None,
                 where: dict[str, str] | None = None) -> None:
        self.source = source  # "admin file" or "annotations"
        self.read_only = read_only if read_only is not None else []
        self.read_write = read_write if read_write is not None else []
        self.where = where if where is not None else {}  # list name -> field path, for messages

    def report(self) -> dict[str, Any]:
        return {"source": self.source, "read_only": self.read_only, "read_write": self.read_write}


class Settings:
    __slots__ = ("baseline", "min_abi")

    def __init__(self, baseline: Layer | None = None, min_abi: int = 0) -> None:
        self.baseline = baseline
        self.min_abi = min_abi


def split(value: str) -> list[str]:
    """An annotation's path list: absolute paths separated by ':' (as in $PATH)."""
    return [p for p in value.split(":") if p]


def parse_admin(table: Any, admin_file: str | None) -> Settings:
    """``[plugin.landlock]``: read_only / read_write path lists (a baseline layer for every
    container) and min_abi. A typo is an error: it must not silently drop the baseline."""
    from lamina.errors import LaminaError

    where = f"admin file {admin_file}"
    if table is None:
        return Settings()
    if not isinstance(table, dict):
        raise LaminaError(f"{where}: [plugin.landlock] must be a table")
    for key in table:
        if key not in ADMIN_KEYS:
            raise LaminaError(f"{where}: plugin.landlock.{key}: unknown setting (expected one of "
                              f"{', '.join(ADMIN_KEYS)})")
    out = Settings()
    min_abi = table.get("min_abi", 0)
    if not isinstance(min_abi, int) or isinstance(min_abi, bool) or min_abi < 0:
        raise LaminaError(f"{where}: plugin.landlock.min_abi must be a non-negative integer, got {min_abi!r}")
    out.min_abi = min_abi
    lists = {}
    for key in ("read_only", "read_write"):
        v = table.get(key)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(p, str) and p.startswith("/") for p in v):
            raise LaminaError(f"{where}: plugin.landlock.{key} must be a list of absolute paths, got {v!r}")
        lists[key] = list(v)
    if lists:
        out.baseline = Layer("admin file", lists.get("read_only", []), lists.get("read_write", []),
                             {k: f"admin file plugin.landlock.{k}" for k in ("read_only", "read_write")})
    return out


def from_annotations(annotations: dict[str, str]) -> tuple[Layer | None, list[str]]:
    """The container's own layer (None if it asks for none) and the problems of its annotations."""
    mine = {k: v for k, v in (annotations or {}).items() if k.startswith(PREFIX)}
    if not mine:
        return None, []
    problems = []
    layer = Layer("annotations", where={"read_only": f"annotations.{READ_ONLY}",
                                         "read_write": f"annotations.{READ_WRITE}"})
    for key, value in sorted(mine.items()):
        if key not in KEYS:
            # an unknown key is refused, never ignored: it might have been meant as a restriction
            problems.append(f"annotations.{key}: unknown Landlock annotation (expected {' or '.join(KEYS)})")
            continue
        paths = split(value)
        for p in paths:
            if not p.startswith("/"):
                problems.append(f"annotations.{key}: {p!r} is not an absolute path "
                                "(paths are separated by ':')")
        setattr(layer, key[len(PREFIX):], paths)
    return layer, problems


def layers(settings: Settings, annotations: dict[str, str]) -> list[Layer]:
    own, _ = from_annotations(annotations)
    return [lay for lay in (settings.baseline, own) if lay is not None]
