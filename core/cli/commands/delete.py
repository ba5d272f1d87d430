import click


@click.command(help="Delete a container and everything it holds (cgroup, state).")
@click.argument("container_id")
@click.option("--force", "-f", is_flag=True, help="Kill it if it is running; no error if it does not exist.")
@click.pass_obj
def command(g, container_id, force):
    from lamina.lifecycle import delete

    delete(g.root, container_id, force)
    return 0
