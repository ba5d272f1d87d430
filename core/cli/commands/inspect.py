from lamina.cli.params import Arg, Opt

HELP = "Show a container's state and what each plugin applied to it (its audit record)."
PARAMS = (
    Arg("container_id"),
    Opt("--format", "-f", dest="fmt", choices=("table", "json"), default="table", help="Output format."),
)


def main(g, container_id, fmt):
    from lamina import inspection

    info = inspection.inspect(g.root, container_id)
    if fmt == "json":
        import json

        print(json.dumps(info, indent=2))
    else:
        print(inspection.table(info))
    return 0
