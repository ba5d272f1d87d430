from lamina.cli.params import Arg, Opt

HELP = "Delete a container and everything it holds (cgroup, state)."
PARAMS = (
    Arg("container_id"),
    Opt("--force", "-f", flag=True, help="Kill it if it is running; no error if it does not exist."),
)


def main(g, container_id, force):
    from lamina.lifecycle import delete

    delete(g.root, container_id, force)
    return 0
