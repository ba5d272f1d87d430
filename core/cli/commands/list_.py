from lamina.cli.params import Opt

HELP = "List containers."
PARAMS = (
    Opt("--format", "-f", dest="fmt", choices=("table", "json"), default="table", help="Output format."),
    Opt("--quiet", "-q", flag=True, help="Only the ids."),
)


def main(g, fmt, quiet):
    from lamina import log
    from lamina.lifecycle import list_all

    states, problems = list_all(g.root)
    for p in problems:
        log.error(p)
    if quiet:
        for s in states:
            print(s["id"])
    elif fmt == "json":
        from lamina import jsonfast as json

        print(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]) for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            print("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 1 if problems else 0
