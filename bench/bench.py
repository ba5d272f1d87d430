"""lamina against runc and crun, in one run: medians from hyperfine and the ratios between them.

Scenarios (see bench/README.md): ``run`` of /bin/true, a create -> start -> delete cycle, ``state``
of a created container, N parallel ``run`` of /bin/true (wall time), and the resident memory of a
created, not yet started container's init. Needs root, hyperfine, runc (crun where it runs).

    python bench/bench.py --lamina /opt/lamina/venv/bin/lamina [--runs N] [--only state,run] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _reaper  # noqa: E402
from _runtimes import Runtime, Workspace, crun_needs_private_ns  # noqa: E402

SCENARIOS = ("run", "cycle", "state", "parallel", "memory")
RUNTIMES = ("lamina", "runc", "crun")
TITLES = {
    "run": "run /bin/true",
    "cycle": "create+start+delete",
    "state": "state (created)",
    "parallel": "parallel run x{n} (wall)",
    "memory": "created init VmRSS",
}
SLEEP = ["/bin/sleep", "600"]
MEMORY_SAMPLES = 3
TARGET_RUN_RATIO = 1.5


Args = argparse.Namespace


class ScenarioFailed(Exception):
    pass


# ---------------------------------------------------------------------- measuring

def hyperfine(ws: Workspace, rt: Runtime, name: str, command: str, *, scan: tuple[int, int] | None = None,
              runs: int = 0, warmup: int = 0, timeout: float = 300) -> list[float]:
    """Time ``command`` with hyperfine (no shell: -N); the times in ms. With ``scan=(a, b)`` the
    command contains ``{i}`` and runs once per i in a..b (each run needs its own container id)."""
    out = os.path.join(ws.dir, f"hf-{rt.name}-{name}.json")
    argv = ["hyperfine", "-N", "--style", "none", "--export-json", out]
    if scan:
        argv += ["--runs", "1", "--parameter-scan", "i", str(scan[0]), str(scan[1])]
    else:
        argv += ["--runs", str(runs), "--warmup", str(warmup)]
    argv.append(command)
    try:
        r = _reaper.run(rt.wrap(argv), timeout=timeout)
    except _reaper.CommandTimeout as e:
        raise ScenarioFailed(str(e)) from None
    if r.returncode != 0:
        raise ScenarioFailed(f"hyperfine: {r.last_error_line()}")
    with open(out) as f:
        results = json.load(f)["results"]
    return [t * 1000 for res in results for t in res["times"]]


def summary(values: list[float], unit: str) -> dict:
    return {
        "unit": unit,
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
        "values": [round(v, 3) for v in values],
    }


def chunks(runs: int, rounds: int) -> list[tuple[int, int]]:
    """1..runs cut into ``rounds`` consecutive ranges of nearly equal size."""
    rounds = max(1, min(rounds, runs))
    bounds = [round(k * runs / rounds) for k in range(rounds + 1)]
    return [(bounds[k] + 1, bounds[k + 1]) for k in range(rounds)]


# ---------------------------------------------------------------------- timed scenarios
# Each is (setup, chunk, teardown): setup and teardown are untimed; chunk times runs first..last.
# The runtimes take turns chunk by chunk, so a change of load on a shared machine hits all alike.

def _scan_id(ws: Workspace, rt: Runtime, scenario: str) -> str:
    return f"{ws.token}-{rt.name}-{scenario}-{{i}}"


def _bundles(ws: Workspace, cid: str, first: int, last: int, args: list[str]) -> str:
    """Bundles for ``cid`` with {i} = first..last; the bundle path with ``{i}``."""
    for i in range(first, last + 1):
        ws.bundle(cid.replace("{i}", str(i)), args)
    return os.path.join(ws.bundles, cid)


def run_chunk(ws: Workspace, rt: Runtime, opts: Args, first: int, last: int) -> list[float]:
    cid = _scan_id(ws, rt, "run")
    bundle = _bundles(ws, cid, first, last, ["/bin/true"])
    return hyperfine(ws, rt, "run", rt.cmd("run", "--bundle", bundle, cid), scan=(first, last))


def cycle_chunk(ws: Workspace, rt: Runtime, opts: Args, first: int, last: int) -> list[float]:
    # /bin/true: by the time `delete` runs the process has exited (the ordinary path of a task).
    # A still-running process would measure runc's fixed 100 ms sleep after SIGKILL in
    # `delete --force` instead of the runtime's work; --force only covers the rare race.
    cid = _scan_id(ws, rt, "cycle")
    bundle = _bundles(ws, cid, first, last, ["/bin/true"])
    script = " && ".join([rt.cmd("create", "--bundle", bundle, cid), rt.cmd("start", cid),
                          rt.cmd("delete", "--force", cid)])
    return hyperfine(ws, rt, "cycle", shlex.join(["sh", "-c", script]), scan=(first, last))


def _state_id(ws: Workspace, rt: Runtime) -> str:
    return f"{ws.token}-{rt.name}-state"


def state_setup(ws: Workspace, rt: Runtime) -> None:
    create(ws, rt, _state_id(ws, rt))


def state_chunk(ws: Workspace, rt: Runtime, opts: Args, first: int, last: int) -> list[float]:
    return hyperfine(ws, rt, "state", rt.cmd("state", _state_id(ws, rt)), runs=last - first + 1,
                     warmup=3 if first == 1 else 1)


def state_teardown(ws: Workspace, rt: Runtime) -> None:
    rt.call("delete", "--force", _state_id(ws, rt))


def parallel_chunk(ws: Workspace, rt: Runtime, opts: Args, first: int, last: int) -> list[float]:
    lines = ["rc=0", "pids="]
    for j in range(1, opts.parallel + 1):
        cid = f"{ws.token}-{rt.name}-par-{{i}}-{j}"
        bundle = _bundles(ws, cid, first, last, ["/bin/true"])
        lines.append(f"{rt.cmd('run', '--bundle', bundle, cid)} & pids=\"$pids $!\"")
    lines += ["for p in $pids; do wait $p || rc=1; done", "exit $rc"]
    return hyperfine(ws, rt, "parallel", shlex.join(["sh", "-c", "\n".join(lines)]), scan=(first, last))


def _nothing(ws: Workspace, rt: Runtime) -> None:
    pass


Chunk = Callable[[Workspace, Runtime, Args, int, int], list[float]]
Step = Callable[[Workspace, Runtime], None]
TIMED: dict[str, tuple[Step, Chunk, Step]] = {
    "run": (_nothing, run_chunk, _nothing),
    "cycle": (_nothing, cycle_chunk, _nothing),
    "state": (state_setup, state_chunk, state_teardown),
    "parallel": (_nothing, parallel_chunk, _nothing),
}


def bench_timed(ws: Workspace, runtimes: list[Runtime], sc: str, opts: argparse.Namespace) -> dict[str, dict]:
    setup, chunk, teardown = TIMED[sc]
    times: dict[str, list[float]] = {rt.name: [] for rt in runtimes}
    failed: dict[str, str] = {}
    try:
        for rt in runtimes:
            try:
                setup(ws, rt)
            except ScenarioFailed as e:
                failed[rt.name] = str(e)
        for first, last in chunks(opts.runs, opts.rounds):
            for rt in runtimes:
                if rt.name in failed:
                    continue
                progress(f"{sc} {rt.name} runs {first}-{last}")
                try:
                    times[rt.name] += chunk(ws, rt, opts, first, last)
                except ScenarioFailed as e:
                    failed[rt.name] = str(e)
    finally:
        for rt in runtimes:
            teardown(ws, rt)
    return {rt.name: {"error": failed[rt.name]} if rt.name in failed else summary(times[rt.name], "ms")
            for rt in runtimes}


FLOOR_TITLES = {
    "python": "lamina's interpreter start (its launcher, no lamina code)",
    "pluggy": "the same plus `import pluggy` (what any pluggy-based runtime pays)",
}


def bench_floor(ws: Workspace, rt: Runtime, opts: argparse.Namespace) -> dict[str, dict]:
    """What lamina cannot go below while it is a Python program built on pluggy: its launcher's
    interpreter start, and that plus importing pluggy (which brings typing, inspect, enum, re).
    Timed like the scenarios, in the same run, so the ratios to runc compare like with like."""
    with open(rt.binary) as f:
        text = f.read()
    head, sep, _ = text.partition("from lamina.cli.main import main")
    if not sep or not head.startswith("#!"):
        return {"python": {"error": f"{rt.binary} is not lamina's launcher (python -m lamina.launcher)"}}
    python, *flags = head.splitlines()[0][2:].split()
    body = "\n".join(head.splitlines()[1:])
    out = {}
    for what, extra in (("python", ""), ("pluggy", "import pluggy\n")):
        progress(f"floor {what}")
        command = shlex.join([python, *flags, "-c", body + "\n" + extra])
        try:
            out[what] = summary(hyperfine(ws, rt, f"floor-{what}", command, runs=opts.runs, warmup=3), "ms")
        except ScenarioFailed as e:
            out[what] = {"error": str(e)}
    return out


def progress(msg: str) -> None:
    print(f"bench: {msg} ...", file=sys.stderr, flush=True)


def bench_memory(ws: Workspace, rt: Runtime, opts: argparse.Namespace) -> dict:
    """VmRSS of the init of a created (not started) container, as the kernel reports it; Pss beside
    it, since a forked init shares its pages with whatever it was forked from."""
    samples: dict[str, list[float]] = {"VmRSS": [], "RssAnon": [], "RssFile": [], "Pss": []}
    for k in range(1, MEMORY_SAMPLES + 1):
        cid = f"{ws.token}-{rt.name}-mem-{k}"
        create(ws, rt, cid)
        try:
            pid = rt.pid_of(cid)
            for key, kib in read_memory(pid).items():
                samples[key].append(kib)
        finally:
            rt.call("delete", "--force", cid)
    result = summary(samples["VmRSS"], "KiB")
    result["detail"] = {k: statistics.median(v) for k, v in samples.items() if v}
    return result


def create(ws: Workspace, rt: Runtime, cid: str) -> None:
    r = rt.call("create", "--bundle", ws.bundle(cid, SLEEP), cid)
    if r.returncode != 0:
        raise ScenarioFailed(f"create {cid}: {r.last_error_line()}")


def read_memory(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = float(value.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = float(line.split()[1])
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------- runtimes

def find_runtimes(opts: argparse.Namespace, ws: Workspace) -> list[Runtime]:
    binaries = {"lamina": opts.lamina, "runc": opts.runc, "crun": opts.crun}
    out = []
    for name in opts.runtimes:
        path = shutil.which(binaries[name]) or binaries[name]
        rt = Runtime(name, path, ws.root_for(name), private_ns=name == "crun" and crun_needs_private_ns())
        if not os.access(path, os.X_OK):
            rt.skipped = f"{binaries[name]}: not found"
        out.append(rt)
    return out


def probe(ws: Workspace, rt: Runtime) -> None:
    """One untimed `run` of /bin/true: proves the runtime works here (else it is skipped with the
    reason) and warms the page cache for everything that follows."""
    cid = f"{ws.token}-{rt.name}-probe"
    try:
        r = rt.call("run", "--bundle", ws.bundle(cid, ["/bin/true"]), cid, timeout=60)
    except _reaper.CommandTimeout as e:
        rt.skipped = f"run /bin/true: {e}"
        return
    if r.returncode != 0:
        rt.skipped = f"run /bin/true failed: {r.last_error_line()}"


# ---------------------------------------------------------------------- report

def ratio(results: dict, scenario: str, a: str, b: str) -> float | None:
    ra, rb = results.get(a, {}).get(scenario, {}), results.get(b, {}).get(scenario, {})
    if "median" in ra and "median" in rb and rb["median"] > 0:
        return ra["median"] / rb["median"]
    return None


def table(report: dict) -> str:
    results, names = report["results"], report["runtimes"]
    others = [n for n in names if n != "lamina"]
    head = ["scenario", "unit"] + [f"{n}" for n in names]
    if "lamina" in names:
        head += [f"lamina/{n}" for n in others]
    rows = [head]
    for sc in report["scenarios"]:
        unit = "KiB" if sc == "memory" else "ms"
        row = [TITLES[sc].format(n=report["parallel"]), unit]
        for n in names:
            r = results[n].get(sc, {})
            row.append(f"{r['median']:.1f}" if "median" in r else ("failed" if "error" in r else "skipped"))
        if "lamina" in names:
            for n in others:
                q = report["ratios"].get(sc, {}).get(f"lamina/{n}")
                row.append(f"{q:.2f}x" if q is not None else "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for k, r in enumerate(rows):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def notes(report: dict) -> list[str]:
    out = []
    for name, info in report["runtime_info"].items():
        if info.get("skipped"):
            out.append(f"{name} skipped: {info['skipped']}")
    for name, per in report["results"].items():
        for sc, r in per.items():
            if "error" in r:
                out.append(f"{name} {sc} failed: {r['error']}")
    for name in report["runtimes"]:
        d = report["results"][name].get("memory", {}).get("detail")
        if d:
            out.append(f"{name} init memory (KiB, median): "
                       + ", ".join(f"{k} {v:.0f}" for k, v in d.items()))
    runc_run = report["results"].get("runc", {}).get("run", {}).get("median")
    for what, r in report.get("floor", {}).items():
        if "median" in r:
            vs = f" = {r['median'] / runc_run:.2f}x runc's whole run" if runc_run else ""
            out.append(f"floor: {FLOOR_TITLES[what]}: {r['median']:.1f} ms{vs}")
    q = report["ratios"].get("run", {}).get("lamina/runc")
    if q is not None:
        verdict = "met" if q <= TARGET_RUN_RATIO else "NOT met"
        out.append(f"target run <= {TARGET_RUN_RATIO}x runc: {verdict} ({q:.2f}x)")
    return out


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    u = os.uname()
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": u.release, "machine": u.machine}


# ---------------------------------------------------------------------- main

def csv_choice(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a comma-separated list of {', '.join(allowed)}")
        return items
    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default_lamina = os.path.join(os.path.dirname(sys.executable), "lamina")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lamina", default=default_lamina if os.path.exists(default_lamina) else "lamina")
    p.add_argument("--runc", default="runc")
    p.add_argument("--crun", default="crun")
    p.add_argument("--runs", type=int, default=20, help="timed runs per scenario and runtime (default 20)")
    p.add_argument("--rounds", type=int, default=4,
                   help="the runtimes take turns in this many rounds per scenario (default 4)")
    p.add_argument("--parallel", type=int, default=10, help="containers started at once (default 10)")
    p.add_argument("--only", type=csv_choice(SCENARIOS), default=list(SCENARIOS),
                   help=f"scenarios, comma-separated: {','.join(SCENARIOS)}")
    p.add_argument("--runtimes", type=csv_choice(RUNTIMES), default=list(RUNTIMES),
                   help="runtimes, comma-separated (default lamina,runc,crun)")
    p.add_argument("--json", metavar="FILE", help="write every number to FILE")
    opts = p.parse_args(argv)
    if min(opts.runs, opts.parallel, opts.rounds) < 1:
        p.error("--runs, --rounds and --parallel must be at least 1")
    # --runs 1 gives no stdev; hyperfine itself is happy with it
    opts.only = [s for s in SCENARIOS if s in opts.only]
    opts.runtimes = [r for r in RUNTIMES if r in opts.runtimes]
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: containers need root", file=sys.stderr)
        return 2
    if not shutil.which("hyperfine"):
        print("bench: hyperfine is missing (apt-get install hyperfine)", file=sys.stderr)
        return 2
    _reaper.become_subreaper()
    # SIGTERM unwinds like ^C, so the containers started so far are deleted
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ws = Workspace()
    runtimes: list[Runtime] = []
    started = time.monotonic()
    results: dict[str, dict] = {}
    floor: dict[str, dict] = {}
    try:
        ws.setup()
        runtimes = find_runtimes(opts, ws)
        for rt in runtimes:
            results[rt.name] = {}
            if not rt.skipped:
                probe(ws, rt)
            if rt.skipped:
                print(f"bench: {rt.name} skipped: {rt.skipped}", file=sys.stderr)
        active = [rt for rt in runtimes if not rt.skipped]
        for sc in opts.only:
            if sc == "memory":
                for rt in active:
                    progress(f"memory {rt.name}")
                    try:
                        results[rt.name][sc] = bench_memory(ws, rt, opts)
                    except ScenarioFailed as e:
                        results[rt.name][sc] = {"error": str(e)}
                continue
            for name, res in bench_timed(ws, active, sc, opts).items():
                results[name][sc] = res
            if sc == "run" and any(rt.name == "lamina" for rt in active):
                floor = bench_floor(ws, next(rt for rt in active if rt.name == "lamina"), opts)
    finally:
        problems = ws.cleanup(runtimes)
        for line in problems:
            print(f"bench: cleanup: {line}", file=sys.stderr)
    report = {
        "token": ws.token,
        "machine": machine(),
        "runs": opts.runs,
        "parallel": opts.parallel,
        "scenarios": opts.only,
        "runtimes": [rt.name for rt in runtimes],
        "runtime_info": {rt.name: {"binary": rt.binary, "version": rt.version() if not rt.skipped else None,
                                   "skipped": rt.skipped, "private_mount_ns": rt.private_ns}
                         for rt in runtimes},
        "results": results,
        "ratios": {sc: {f"lamina/{o}": ratio(results, sc, "lamina", o)
                        for o in opts.runtimes if o != "lamina"} for sc in opts.only},
        "floor": floor,
        "seconds": round(time.monotonic() - started, 1),
        "cleanup_problems": problems,
    }
    m = report["machine"]
    print(f"lamina bench: {opts.runs} runs per scenario, medians; {m['cpus']} cpus, Linux {m['kernel']}")
    for rt in runtimes:
        v = report["runtime_info"][rt.name]["version"]
        print(f"  {rt.name}: {v or 'skipped'} ({rt.binary}){' [private mount ns]' if rt.private_ns else ''}")
    print()
    print(table(report))
    for line in notes(report):
        print(f"  {line}")
    print(f"  ({report['seconds']} s)")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(report, f, indent=1)
    lamina_failed = "lamina" in results and (
        any(rt.skipped for rt in runtimes if rt.name == "lamina")
        or any("error" in r for r in results["lamina"].values()))
    return 1 if lamina_failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
