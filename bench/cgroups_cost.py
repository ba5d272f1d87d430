#!/usr/bin/python3
"""What a full linux.resources section adds to `lamina create`: hyperfine medians of `create`
for the same busybox bundle without resources (the default device rules only) and with every
section this host can apply, and the difference. The two are timed in alternating rounds, and
the median of the rounds' medians is reported, so that other work on the machine weighs on both.

    $VENV/bin/python bench/cgroups_cost.py [--lamina PATH] [--runs N] [--rounds R] [--json FILE]

Needs root and hyperfine. Each timed run is one `create` (the container waits on its exec FIFO);
hyperfine's --prepare deletes the previous one, outside the timing. The bench is a subreaper and
reaps the killed inits while hyperfine runs (PID 1 on the project's machines does not), so no
zombie makes a delete wait. Cgroups go under /lamina-bench-cg/<id>; everything is removed after.
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

MiB = 1 << 20
CG_PARENT = "lamina-bench-cg"


def full_resources() -> tuple[dict, list[str]]:
    """Every section of linux.resources with values this host can apply, and the sections left
    out (with lamina's own reason: a controller the host lacks)."""
    from lamina.plugins.cgroups.layout import detect
    from lamina.plugins.cgroups.plugin import check_resources

    lay = detect()
    dev = (7, 0)
    for d in sorted(os.listdir("/sys/block")):
        if not d.startswith("loop") and os.path.exists(f"/sys/block/{d}/dev"):
            with open(f"/sys/block/{d}/dev") as f:
                dev = tuple(int(x) for x in f.read().strip().split(":"))
            break
    candidates = {
        "memory": {"limit": 256 * MiB, "reservation": 128 * MiB, "swap": 512 * MiB, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 100},
        "blockIO": {"weight": 300,
                    "throttleReadBpsDevice": [{"major": dev[0], "minor": dev[1], "rate": 10 * MiB}],
                    "throttleWriteIOPSDevice": [{"major": dev[0], "minor": dev[1], "rate": 1000}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}],
        "network": {"classID": 0x100001},
        "rdma": {"mlx5_0": {"hcaHandles": 4}},
        "unified": {"memory.high": str(200 * MiB)},
    }
    if lay.version("memory") == 2:
        candidates["memory"].pop("swappiness")
    if not os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") and lay.version("memory") == 1:
        candidates["memory"].pop("swap")
    res, left_out = {}, []
    for name, section in candidates.items():
        problems = check_resources({name: section}, lay)
        if problems:
            left_out.append(problems[0])
        else:
            res[name] = section
    if "rdma" in res:  # an RDMA device of that name is unlikely to exist
        left_out.append("linux.resources.rdma: no RDMA device to limit")
        del res["rdma"]
    res["devices"] = [{"allow": False, "access": "rwm"},
                      {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]
    return res, left_out


def make_bundle(work: str, name: str, resources: dict | None) -> str:
    from lamina.testing import base_config, busybox_rootfs

    path = os.path.join(work, name)
    os.makedirs(path)
    cfg = base_config(["sleep", "1"])
    cfg["root"]["path"] = busybox_rootfs()
    cfg["root"]["readonly"] = True
    cfg["linux"]["cgroupsPath"] = f"/{CG_PARENT}/{name}"
    if resources is None:
        cfg["linux"].pop("resources", None)
    else:
        cfg["linux"]["resources"] = resources
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    return path


def run_reaping(argv: list[str]) -> int:
    """Run argv to completion, reaping every orphan re-parented to us meanwhile."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return p.returncode


def median_ms(lamina: str, root: str, bundle: str, cid: str, runs: int, out: str) -> float:
    argv = ["hyperfine", "-N", "--style", "none", "--warmup", "2", "--runs", str(runs),
            "--prepare", f"{lamina} --root {root} delete --force {cid}",
            "--export-json", out, f"{lamina} --root {root} create --bundle {bundle} {cid}"]
    if run_reaping(argv) != 0:
        raise SystemExit(f"cgroups_cost: hyperfine failed for {bundle}")
    with open(out) as f:
        return json.load(f)["results"][0]["median"] * 1000


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lamina", default=os.path.join(os.path.dirname(sys.executable), "lamina"))
    ap.add_argument("--runs", type=int, default=20, help="runs per hyperfine round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, alternating the two bundles")
    ap.add_argument("--json", help="also write the numbers here")
    a = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("hyperfine"):
        print("cgroups_cost: needs root and hyperfine", file=sys.stderr)
        return 2
    from lamina import syscalls

    syscalls.set_subreaper()
    work = tempfile.mkdtemp(prefix="lamina-cgcost-", dir="/var/tmp")
    root = os.path.join(work, "state")
    resources, left_out = full_resources()
    results: dict[str, list[float]] = {"plain": [], "full": []}
    bundles = {}
    try:
        for name, res in (("plain", None), ("full", resources)):
            b = bundles[name] = make_bundle(work, name, res)
            # the init keeps create's stdio until it exits: no pipes, or this would wait for it
            with tempfile.TemporaryFile() as err:
                argv = [a.lamina, "--root", root, "create", "--bundle", b, f"probe-{name}"]
                rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err).returncode
                err.seek(0)
                why = err.read().decode(errors="replace").strip()
            subprocess.run([a.lamina, "--root", root, "delete", "--force", f"probe-{name}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if rc != 0:
                raise SystemExit(f"cgroups_cost: create of the {name} bundle fails: {why}")
        # alternate the two, round after round: a load that comes and goes hits both alike
        for i in range(a.rounds):
            for name in ("plain", "full"):
                out = os.path.join(work, f"{name}-{i}.json")
                results[name].append(median_ms(a.lamina, root, bundles[name], name, a.runs, out))
    finally:
        for name in ("plain", "full", "probe-plain", "probe-full"):
            subprocess.run([a.lamina, "--root", root, "delete", "--force", name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
        for d in [f"/sys/fs/cgroup/{c}/{CG_PARENT}" for c in os.listdir("/sys/fs/cgroup")] + \
                 [f"/sys/fs/cgroup/{CG_PARENT}"]:
            try:
                os.rmdir(d)
            except OSError:
                pass
    plain, full = statistics.median(results["plain"]), statistics.median(results["full"])
    extra = full - plain
    n = f"median of {a.rounds} rounds of {a.runs} runs"
    print(f"create, no linux.resources      : {plain:7.1f} ms ({n}: {fmt(results['plain'])})")
    print(f"create, full linux.resources    : {full:7.1f} ms ({n}: {fmt(results['full'])})")
    print(f"added by the resources section  : {extra:7.1f} ms ({extra / plain * 100:+.0f}%)")
    print(f"sections applied: {', '.join(sorted(resources))}")
    for why in left_out:
        print(f"left out (host cannot apply): {why}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"plain_ms": plain, "full_ms": full, "added_ms": extra, "rounds": results,
                       "runs": a.runs, "sections": sorted(resources), "left_out": left_out}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
