"""Where lamina's time goes: a timeline of one `lamina run` of /bin/true (or `lamina state`).

    python bench/_phases.py [--verb run|state] [--runs 10] [--importtime]

Each run executes the lamina CLI in a fresh interpreter whose entry is the ``--trace`` mode of
this file: it wraps (does not change) the core's phase functions and every ``Plugins`` hook
method, and appends ``pid, start, duration, label`` lines to a log that the forked init
processes inherit. Times are ms since the launcher's exec, medians over the runs. A name the
core no longer has is skipped, so the tool keeps working while the core changes.
"""

from __future__ import annotations

import os
import sys
import time

T0_ENV, LOG_ENV = "LB_T0", "LB_LOG"

# (module, attribute, label); "Class.method" wraps a method
PHASES = [
    ("lamina.pluginmanager", "Plugins.__init__", "Plugins(): pluggy, index, plugin imports"),
    ("lamina.pluginmanager", "discover", "  discover (entry-point index)"),
    ("lamina.pluginmanager", "_load_target", "  import one plugin module"),
    ("lamina.create", "load_and_validate", "load + validate config.json"),
    ("lamina.create", "Creation.run", "Creation.run (create, host side)"),
    ("lamina.create", "Creation.persist", "  write state.json"),
    ("lamina.create", "Creation._spawn", "  fork + handshake until the init waits"),
    ("lamina.init", "import_everything", "    import what the init needs"),
    ("lamina.init", "first_process", "    init: first process"),
    ("lamina.lifecycle", "start_locked", "start (release the init)"),
    ("lamina.run", "supervise", "supervise until exit"),
    ("lamina.lifecycle", "delete_locked", "delete (teardown)"),
    ("lamina.lifecycle", "query", "state: lifecycle.query"),
]


# ---------------------------------------------------------------------- inside the traced lamina

def _trace(argv: list[str]) -> None:
    t_script = time.time_ns()
    t0 = int(os.environ[T0_ENV])
    fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)  # inherited

    def rec(label: str, start: int, dur: int | None = None) -> None:
        d = "-" if dur is None else f"{dur / 1e6:.3f}"
        os.write(fd, f"{os.getpid()}\t{(start - t0) / 1e6:.3f}\t{d}\t{label}\n".encode())

    rec("interpreter ready (script starts)", t_script)
    launcher = os.path.join(os.path.dirname(sys.executable), "lamina")
    if sys.flags.no_site:  # as lamina's own launcher (lamina.launcher) starts: its path set-up
        with open(launcher) as f:
            exec(f.read().rsplit("from lamina.cli.main import main", 1)[0], {"__name__": "launcher"})
        rec("site directories (lamina's launcher)", t_script, time.time_ns() - t_script)
    else:
        import re  # noqa: F401  (the pip console-script wrapper imports it first)

        rec("import re (console-script wrapper)", t_script, time.time_ns() - t_script)
    t = time.time_ns()
    from lamina.cli import main as cli_main

    rec("import lamina.cli.main (click, dataclasses, ...)", t, time.time_ns() - t)
    def wrap(owner, attr: str, label: str) -> None:
        f = getattr(owner, attr)

        def timed(*a, **kw):
            start = time.time_ns()
            if attr in ("init_exec", "first_process"):
                rec(label + " begins", start)
            try:
                return f(*a, **kw)
            finally:
                rec(label, start, time.time_ns() - start)

        setattr(owner, attr, timed)

    # wrap each phase when its module is first imported, so that the tracer imports nothing
    # lamina itself would not (and import costs stay in the phases that pay them)
    wanted: dict[str, list[tuple[str, str]]] = {}
    for mod_name, attr, label in PHASES:
        wanted.setdefault(mod_name, []).append((attr, label))

    def wrap_module(module) -> None:
        for attr, label in wanted.get(module.__name__, []):
            *cls, name = attr.split(".")
            owner = module
            for c in cls:
                owner = getattr(owner, c, None)
            if owner is not None and hasattr(owner, name):
                wrap(owner, name, label)
            if module.__name__ == "lamina.pluginmanager" and attr.startswith("Plugins."):
                for hook in [n for n in vars(owner) if not n.startswith("_") and callable(vars(owner)[n])]:
                    wrap(owner, hook, f"hook {hook}")

    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name not in wanted:
                return None
            import importlib.machinery

            spec = importlib.machinery.PathFinder.find_spec(name, path, target)
            if spec is None or spec.loader is None:
                return spec
            loader_exec = spec.loader.exec_module

            def exec_module(module):
                loader_exec(module)
                wrap_module(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, Finder)
    for mod_name in list(wanted):
        if mod_name in sys.modules:
            wrap_module(sys.modules[mod_name])
    try:
        cli_main.main(argv)
    except SystemExit as e:
        rec("main() returns; interpreter exit begins", time.time_ns())
        if os.environ.get("LB_FAST_EXIT"):  # what skipping the interpreter's finalization saves
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(e.code if isinstance(e.code, int) else 0)
        raise


# ---------------------------------------------------------------------- the driver

def _drive(opts) -> int:
    import statistics
    import subprocess
    import tempfile

    import _reaper
    from _runtimes import Workspace

    _reaper.become_subreaper()
    ws = Workspace()
    lamina_py = opts.python
    root = ws.root_for("phases")
    rows: dict[str, list[tuple[float, float | None]]] = {}
    totals = []
    try:
        ws.setup()
        sleeper = f"{ws.token}-phases-state"
        if opts.verb == "state":
            subprocess.run([lamina_py, "-m", "lamina", "--root", root, "create", "--bundle",
                            ws.bundle(sleeper, ["/bin/sleep", "600"]), sleeper], check=True)
        for i in range(opts.runs):
            cid = f"{ws.token}-phases-{i}"
            verb = ["run", "--bundle", ws.bundle(cid, ["/bin/true"]), cid] if opts.verb == "run" \
                else ["state", sleeper]
            with tempfile.NamedTemporaryFile(dir=ws.dir, delete=False) as log:
                pass
            env = dict(os.environ, **{T0_ENV: str(time.time_ns()), LOG_ENV: log.name})
            if opts.fast_exit:
                env["LB_FAST_EXIT"] = "1"
            argv = [lamina_py, *([] if opts.site else ["-S"]), os.path.abspath(__file__), "--trace",
                    "--root", root, *verb]
            if opts.importtime:
                argv.insert(1, "-Ximporttime")
            start = time.perf_counter()
            r = _reaper.run(argv, env=env)
            totals.append((time.perf_counter() - start) * 1000)
            if r.returncode != 0:
                print(f"lamina {verb[0]} failed: {r.last_error_line()}", file=sys.stderr)
                return 1
            if opts.importtime and i == opts.runs - 1:
                _print_imports(r.stderr)
            first = None
            this_run: dict[str, tuple[float, float | None, int]] = {}
            with open(log.name) as f:
                for line in f:
                    pid, start_ms, dur, label = line.rstrip("\n").split("\t")
                    first = first or pid
                    who = "" if pid == first else ("  [init]" if pid == "1" else "  [child]")
                    t, d = float(start_ms), None if dur == "-" else float(dur)
                    # a phase met several times in one run (one import per plugin): first start, sum
                    if (label + who) in this_run:
                        t0, d0, n = this_run[label + who]
                        t, d, count = min(t, t0), (d0 or 0) + (d or 0), n + 1
                    else:
                        count = 1
                    this_run[label + who] = (t, d, count)
            for label, (t, d, n) in this_run.items():
                rows.setdefault(label + (f" (x{n})" if n > 1 else ""), []).append((t, d))
        if opts.verb == "state":
            subprocess.run([lamina_py, "-m", "lamina", "--root", root, "delete", "--force", sleeper])
    finally:
        ws.cleanup([_phase_runtime(lamina_py, root)])
    print(f"lamina {opts.verb}: median over {opts.runs} runs, ms since exec (wall, as the caller sees it)")
    print(f"{'start':>8}  {'took':>7}  phase")
    for label, vals in sorted(rows.items(), key=lambda kv: statistics.median(v[0] for v in kv[1])):
        durs = [d for _, d in vals if d is not None]
        took = f"{statistics.median(durs):7.2f}" if durs else "      -"
        print(f"{statistics.median(v[0] for v in vals):8.2f}  {took}  {label}")
    print(f"{statistics.median(totals):8.2f}  {'':7}  process gone (caller's wall time, incl. teardown)")
    return 0


def _phase_runtime(python: str, root: str):
    from _runtimes import Runtime

    return Runtime("lamina", os.path.join(os.path.dirname(python), "lamina"), root)


def _print_imports(stderr: str) -> None:
    """The slowest imports (cumulative) of one run, top-level and one level below."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = line[len("import time:"):].split("|")
        if cum.strip().isdigit():
            depth = (len(name) - len(name.lstrip())) // 2
            rows.append((int(cum), depth, name.strip()))
    print("slowest imports (cumulative ms, last run):")
    for cum, depth, name in sorted((r for r in rows if r[1] <= 2), reverse=True)[:25]:
        print(f"  {cum / 1000:7.2f}  {'  ' * depth}{name}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--trace":
        _trace(sys.argv[2:])
        return 0
    import argparse

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description="timeline of one lamina run/state")
    p.add_argument("--verb", choices=["run", "state"], default="run")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--importtime", action="store_true", help="also list the slowest imports")
    p.add_argument("--fast-exit", action="store_true",
                   help="os._exit() once main() returns, to see what the interpreter's finalization costs")
    p.add_argument("--site", action="store_true",
                   help="start with `site`, as pip's console script does (default: as lamina's launcher, -S)")
    p.add_argument("--python", default=sys.executable, help="the python of the lamina install to trace")
    return _drive(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
