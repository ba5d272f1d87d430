import click


@click.command(help="Print what this lamina supports (assembled from the enabled plugins) as JSON.")
@click.pass_obj
def command(g):
    import json

    from lamina.features import features

    click.echo(json.dumps(features(), indent=2))
    return 0
