from lamina.cli.params import Arg

HELP = "Thaw a paused container."
PARAMS = (Arg("container_id"),)


def main(g, container_id):
    from lamina.lifecycle import pause

    pause(g.root, container_id, False)
    return 0
