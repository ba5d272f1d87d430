from lamina.cli.params import Arg

HELP = "Print the state of a container as JSON."
PARAMS = (Arg("container_id"),)


def main(g, container_id):
    from lamina import jsonfast as json
    from lamina.lifecycle import query

    print(json.dumps(query(g.root, container_id), indent=2))
    return 0
