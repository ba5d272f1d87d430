import click


@click.command(help="Show a container's state and what each plugin applied to it (its audit record).")
@click.argument("container_id")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def command(g, container_id, fmt):
    from lamina import inspection

    info = inspection.inspect(g.root, container_id)
    if fmt == "json":
        import json

        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(inspection.table(info))
    return 0
