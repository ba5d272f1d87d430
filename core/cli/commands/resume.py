import click


@click.command(help="Thaw a paused container.")
@click.argument("container_id")
@click.pass_obj
def command(g, container_id):
    from lamina.lifecycle import pause

    pause(g.root, container_id, False)
    return 0
