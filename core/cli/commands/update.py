import click

INT = click.INT


@click.command(help="Change the resource limits of a container: a LinuxResources JSON object "
                    "(--resources FILE, or - for stdin) or the single-value flags.")
@click.argument("container_id")
@click.option("--resources", "-r", default=None, help="LinuxResources JSON file, or - for stdin.")
@click.option("--memory", default=None, help="Memory limit (bytes, or 64m, 1g; -1 unlimited).")
@click.option("--memory-reservation", default=None, help="Memory soft limit.")
@click.option("--memory-swap", default=None, help="Memory plus swap limit; -1 unlimited swap.")
@click.option("--cpu-share", "--cpu-shares", "cpu_shares", type=INT, default=None,
              help="CPU shares (relative weight).")
@click.option("--cpu-quota", type=INT, default=None, help="CPU CFS quota (µs per period; -1 none).")
@click.option("--cpu-period", type=INT, default=None, help="CPU CFS period (µs).")
@click.option("--cpu-rt-runtime", type=INT, default=None, help="Real-time runtime (µs per period).")
@click.option("--cpu-rt-period", type=INT, default=None, help="Real-time period (µs).")
@click.option("--cpuset-cpus", default=None, help="CPUs to run on (0-3, 0,1).")
@click.option("--cpuset-mems", default=None, help="Memory nodes to use (0-3, 0,1).")
@click.option("--pids-limit", type=INT, default=None, help="Maximum number of tasks (-1 unlimited).")
@click.option("--blkio-weight", type=INT, default=None, help="Block I/O weight (10-1000).")
@click.pass_obj
def command(g, container_id, resources, **flags):
    from lamina.errors import LaminaError
    from lamina.update import from_flags, load_resources, update

    given = {k: v for k, v in flags.items() if v is not None}
    if resources is not None and given:
        names = ", ".join("--" + k.replace("_", "-") for k in sorted(given))
        raise LaminaError(f"update: --resources cannot be combined with {names}")
    res = load_resources(resources) if resources is not None else from_flags(**flags)
    update(g.root, container_id, res)
    return 0
