import click


@click.command(help="Freeze every process of the container.")
@click.argument("container_id")
@click.pass_obj
def command(g, container_id):
    from lamina.lifecycle import pause

    pause(g.root, container_id, True)
    return 0
