from lamina.cli.params import Arg

HELP = "Start a created container: its init execs the user process."
PARAMS = (Arg("container_id"),)


def main(g, container_id):
    from lamina.lifecycle import start

    start(g.root, container_id)
    return 0
