import click


@click.command(help="Print the state of a container as JSON.")
@click.argument("container_id")
@click.pass_obj
def command(g, container_id):
    import json

    from lamina.lifecycle import query

    click.echo(json.dumps(query(g.root, container_id), indent=2))
    return 0
