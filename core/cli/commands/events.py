from lamina.cli.params import Arg, Opt

HELP = "Print the container's resource counters (and OOM kills) as JSON lines."
PARAMS = (
    Arg("container_id"),
    Opt("--stats", dest="stats_only", flag=True, help="Print the counters once and exit."),
    Opt("--interval", default="5s", show_default=True, help="Time between two stats lines."),
)


def main(g, container_id, stats_only, interval):
    from lamina.events import events, parse_duration

    events(g.root, container_id, stats_only, parse_duration(interval))
    return 0
