from lamina.cli.params import Arg

HELP = "Freeze every process of the container."
PARAMS = (Arg("container_id"),)


def main(g, container_id):
    from lamina.lifecycle import pause

    pause(g.root, container_id, True)
    return 0
