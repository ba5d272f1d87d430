from lamina.cli.params import Arg, Opt

HELP = ("List the container's processes: the host's `ps` rows for them (PS_ARGS after the id, default -ef), "
        "or their pids as JSON.")
INTERSPERSED = False  # what follows the id is ps's
IGNORE_UNKNOWN = True
PARAMS = (
    Opt("--format", "-f", dest="fmt", choices=("table", "json"), default="table", help="Output format."),
    Arg("container_id"),
    Arg("ps_args", rest=True),
)


def main(g, fmt, container_id, ps_args):
    from lamina.ps import container_pids, table

    pids = container_pids(g.root, container_id)
    if fmt == "json":
        from lamina import jsonfast

        print(jsonfast.dumps(pids))
        return 0
    args = list(ps_args)
    if args[:1] == ["--"]:
        args = args[1:]
    text = table(pids, args)
    if text:
        print(text)
    return 0
