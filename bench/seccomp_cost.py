"""What podman's default seccomp profile costs a container: `run` of /bin/true with and without it.

Two measurements:
- end to end: hyperfine medians of ``lamina run`` of /bin/true in a busybox bundle, with no
  linux.seccomp and with podman's default profile (tests/data/seccomp-podman-default.json), and
  the difference (what building and loading the filter adds to create);
- its parts, in this process: importing libseccomp's bindings, compiling the profile to BPF
  (lamina_prepare, before the fork), and loading it with seccomp(2) (the init, one syscall).

Needs root, hyperfine and busybox-static. ``--runc`` adds the same pair for runc.

    python bench/seccomp_cost.py --lamina /opt/lamina/venv/bin/lamina [--runs 30] [--runc] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROFILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "seccomp-podman-default.json"
CGROUP_PARENT = f"lamina-bench-seccomp-{os.getpid()}"


def _bundle(parent: str, name: str, section: dict | None) -> str:
    from lamina import testing

    cfg = testing.base_config(["/bin/true"])
    cfg["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{name}"
    if section is not None:
        cfg["linux"]["seccomp"] = section
    return testing.make_bundle(parent, config=cfg, cid=name).path


def _hyperfine(commands: dict[str, str], runs: int, warmup: int,
               rounds: int = 10) -> dict[str, dict[str, float]]:
    """Per command: the median wall time and the mean CPU time (user + system, of the command and
    the children it waited for, the container's processes included), in seconds.

    hyperfine runs one command's runs after the other's, so a change in the machine's load would
    land on one side only: the runs are split into rounds that alternate between the commands.
    CPU time is the figure to trust on a loaded machine; wall time on a quiet one."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    rounds = max(1, min(rounds, runs))
    per_round = max(1, runs // rounds)
    for i in range(rounds):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            argv = ["hyperfine", "-N", "--warmup", str(warmup if i == 0 else 0), "--runs", str(per_round),
                    "--export-json", out.name, "--style", "none"]
            for name, cmd in commands.items():
                argv += ["--command-name", name, cmd]
            p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"hyperfine failed: {p.stderr.strip()}")
            with open(out.name) as f:
                for r in json.load(f)["results"]:
                    times[r["command"]] += r["times"]
                    cpu[r["command"]] += [r["user"] + r["system"]] * len(r["times"])
    return {name: {"wall": statistics.median(times[name]), "cpu": statistics.fmean(cpu[name])}
            for name in commands}


def end_to_end(lamina: str, runs: int = 30, warmup: int = 3, runc: str | None = None) -> dict[str, dict]:
    """`run /bin/true` without and with the profile, per runtime (see _hyperfine)."""
    section = json.loads(PROFILE.read_text())
    work = tempfile.mkdtemp(prefix="lamina-bench-seccomp-", dir="/var/tmp")
    try:
        plain, filtered = _bundle(work, "plain", None), _bundle(work, "podman", section)
        root = os.path.join(work, "root")
        commands = {
            "lamina": f"{lamina} --root {root} run --bundle {plain} bench-plain",
            "lamina+seccomp": f"{lamina} --root {root} run --bundle {filtered} bench-podman",
        }
        if runc:
            commands["runc"] = f"{runc} --root {root}-runc run --bundle {plain} bench-runc-plain"
            commands["runc+seccomp"] = f"{runc} --root {root}-runc run --bundle {filtered} bench-runc-podman"
        return _hyperfine(commands, runs, warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for d in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"):
            for sub in sorted(d.glob("*"), reverse=True):
                if sub.is_dir():
                    sub.rmdir()
            d.rmdir()


def parts(repeat: int = 50) -> dict[str, float]:
    """Median seconds of: importing the bindings (a fresh interpreter), compiling the profile,
    loading the compiled program (in a child that sets no_new_privs)."""
    from lamina import syscalls
    from lamina.plugins.seccomp import bindings, compiler

    code = "import time; t = time.perf_counter(); import seccomp; print(time.perf_counter() - t)"
    imports = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout) for _ in range(min(repeat, 20))]
    section = json.loads(PROFILE.read_text())
    lib = bindings.module()
    compiles = []
    for _ in range(repeat):
        t = time.perf_counter()
        compiled = compiler.compile_profile(section, lib)
        compiles.append(time.perf_counter() - t)
    prog = syscalls.SockFprog.of(compiled.bpf)
    loads = []
    for _ in range(min(repeat, 20)):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
                t = time.perf_counter()
                syscalls.seccomp_set_mode_filter(prog, 0)
                os.write(w, str(time.perf_counter() - t).encode())
            finally:
                os._exit(0)
        os.close(w)
        loads.append(float(os.read(r, 64)))
        os.close(r)
        os.waitpid(pid, 0)
    return {"import": statistics.median(imports), "compile": statistics.median(compiles),
            "load": statistics.median(loads), "instructions": compiled.instructions}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lamina", default=shutil.which("lamina") or "lamina")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runc", action="store_true", help="measure runc with the same bundles")
    ap.add_argument("--json", help="also write the numbers here")
    opts = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("seccomp_cost: needs root (it runs containers)", file=sys.stderr)
        return 1
    e2e = end_to_end(opts.lamina, opts.runs, opts.warmup, shutil.which("runc") if opts.runc else None)
    p = parts()
    ms = 1000.0
    print(f"run /bin/true, {opts.runs} runs each, alternating (hyperfine): wall median / CPU mean")
    for rt in ("lamina", "runc"):
        if rt in e2e:
            off, on = e2e[rt], e2e[f"{rt}+seccomp"]
            print(f"  {rt:7s} without {off['wall'] * ms:6.1f} / {off['cpu'] * ms:6.1f} ms   with podman's "
                  f"profile {on['wall'] * ms:6.1f} / {on['cpu'] * ms:6.1f} ms   adds "
                  f"{(on['wall'] - off['wall']) * ms:+6.1f} / {(on['cpu'] - off['cpu']) * ms:+6.1f} ms")
    print(f"parts (medians): import seccomp {p['import'] * ms:.2f} ms, compile {p['compile'] * ms:.2f} ms "
          f"({p['instructions']} BPF instructions), load {p['load'] * 1e6:.0f} us")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"run_s": e2e, "parts_median_s": p, "runs": opts.runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
