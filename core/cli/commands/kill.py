from lamina.cli.params import Arg, Opt

HELP = "Send a signal (name or number, default SIGTERM) to the container's init."
PARAMS = (
    Arg("container_id"),
    Arg("signal", default="SIGTERM"),
    Opt("--all", "-a", dest="all_", flag=True, help="Signal every process of the container."),
)


def main(g, container_id, signal, all_):
    from lamina.lifecycle import kill, parse_signal

    kill(g.root, container_id, parse_signal(signal), all_)
    return 0
