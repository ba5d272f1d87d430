from lamina.cli.params import Arg, Opt

HELP = ("Change the resource limits of a container: a LinuxResources JSON object (--resources FILE, "
        "or - for stdin) or the single-value flags.")
PARAMS = (
    Arg("container_id"),
    Opt("--resources", "-r", help="LinuxResources JSON file, or - for stdin."),
    Opt("--memory", help="Memory limit (bytes, or 64m, 1g; -1 unlimited)."),
    Opt("--memory-reservation", help="Memory soft limit."),
    Opt("--memory-swap", help="Memory plus swap limit; -1 unlimited swap."),
    Opt("--cpu-share", "--cpu-shares", dest="cpu_shares", kind=int, help="CPU shares (relative weight)."),
    Opt("--cpu-quota", kind=int, help="CPU CFS quota (µs per period; -1 none)."),
    Opt("--cpu-period", kind=int, help="CPU CFS period (µs)."),
    Opt("--cpu-rt-runtime", kind=int, help="Real-time runtime (µs per period)."),
    Opt("--cpu-rt-period", kind=int, help="Real-time period (µs)."),
    Opt("--cpuset-cpus", help="CPUs to run on (0-3, 0,1)."),
    Opt("--cpuset-mems", help="Memory nodes to use (0-3, 0,1)."),
    Opt("--pids-limit", kind=int, help="Maximum number of tasks (-1 unlimited)."),
    Opt("--blkio-weight", kind=int, help="Block I/O weight (10-1000)."),
)


def main(g, container_id, resources, **flags):
    from lamina.errors import LaminaError
    from lamina.update import from_flags, load_resources, update

    given = {k: v for k, v in flags.items() if v is not None}
    if resources is not None and given:
        names = ", ".join("--" + k.replace("_", "-") for k in sorted(given))
        raise LaminaError(f"update: --resources cannot be combined with {names}")
    res = load_resources(resources) if resources is not None else from_flags(**flags)
    update(g.root, container_id, res)
    return 0
