import click


@click.command(help="Check a bundle against the spec, the enabled plugins and the host policy; "
                    "create nothing. Exit 1 if there is any problem.")
@click.argument("bundle", default=".")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def command(g, bundle, fmt):
    from lamina.check import problems
    from lamina.config.load import bundle_path

    path = bundle_path(bundle)
    found = problems(path)
    if fmt == "json":
        import json

        click.echo(json.dumps({"bundle": path, "ok": not found, "problems": found}, indent=2))
    elif found:
        for p in found:
            click.echo(p)
        click.echo(f"{path}: {len(found)} problem{'s' if len(found) != 1 else ''}", err=True)
    else:
        click.echo(f"{path}: ok")
    return 1 if found else 0
