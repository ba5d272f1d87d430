"""`ps`: the container's processes, as a pid list (json) or as rows of the host's `ps`.

Light on purpose (it is called on every `podman top`): no plugin is loaded. The plugin that
manages the container's cgroup records in its state a ``procs_dir``, a cgroup directory whose
subtree lists every process of the container; `ps` reads the cgroup.procs files there itself.
Only when no plugin recorded one are the plugins asked (``lamina_processes``). As runc, the
table is the host's ``ps <options>`` (default ``-ef``), keeping the header and the rows whose
PID column is a process of the container.
"""

from __future__ import annotations

import os

from lamina.container import Container
from lamina.errors import LaminaError


def _procs(directory: str) -> list[int]:
    seen: dict[int, None] = {}
    for dirpath, _dirs, _files in os.walk(directory):
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                for word in f.read().split():
                    seen[int(word)] = None
        except OSError:
            continue
    return list(seen)


def container_pids(root: str, cid: str) -> list[int]:
    c = Container.load(root, cid)
    for rec in (c.st.get("plugins") or {}).values():
        d = rec.get("procs_dir") if isinstance(rec, dict) else None
        if d:
            return _procs(d) if os.path.isdir(d) else []
    from lamina.pluginmanager import Plugins

    pids = Plugins().processes(c.context())
    if pids is None:
        raise LaminaError(f"ps: no enabled plugin knows the processes of container {cid}")
    return pids


def table(pids: list[int], ps_args: list[str]) -> str:
    """The header and the rows of ``ps ps_args`` whose PID is one of ``pids``."""
    import subprocess

    argv = ["ps", *(ps_args or ["-ef"])]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise LaminaError("ps: executable file not found in $PATH") from None
    if p.returncode != 0:
        why = (p.stderr or p.stdout).strip() or f"exit status {p.returncode}"
        raise LaminaError(f"ps {' '.join(argv[1:])}: {why}")
    lines = p.stdout.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise LaminaError(f"ps {' '.join(argv[1:])}: no PID column in its output (add -o pid)")
    col = header.index("PID")
    want = set(pids)
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in want:
            out.append(line)
    return "\n".join(out)
