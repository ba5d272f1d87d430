import click


@click.command(help="Start a created container: its init execs the user process.")
@click.argument("container_id")
@click.pass_obj
def command(g, container_id):
    from lamina.lifecycle import start

    start(g.root, container_id)
    return 0
