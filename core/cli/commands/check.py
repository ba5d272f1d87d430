import sys

from lamina.cli.params import Arg, Opt

HELP = ("Check a bundle against the spec, the enabled plugins and the host policy; create nothing. "
        "Exit 1 if there is any problem.\n\n"
        "What only creating can tell is not checked: whether process.args[0] exists in the "
        "container's PATH, and whether the cgroup is already in use by another container.")
PARAMS = (
    Arg("bundle", default="."),
    Opt("--format", "-f", dest="fmt", choices=("text", "json"), default="text", help="Output format."),
)


def main(g, bundle, fmt):
    from lamina.check import problems
    from lamina.config.load import bundle_path

    path = bundle_path(bundle)
    found = problems(path)
    if fmt == "json":
        import json

        print(json.dumps({"bundle": path, "ok": not found, "problems": found}, indent=2))
    elif found:
        for p in found:
            print(p)
        print(f"{path}: {len(found)} problem{'s' if len(found) != 1 else ''}", file=sys.stderr)
    else:
        print(f"{path}: ok")
    return 1 if found else 0
