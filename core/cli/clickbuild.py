"""click commands built from the verbs' declarations (lamina.cli.params): help, usage errors
and every argv the fast parser leaves to click go through here."""

from __future__ import annotations

from types import ModuleType

import click
from lamina.cli.params import REQUIRED, Arg, Opt


def param(p: Arg | Opt) -> click.Parameter:
    if isinstance(p, Arg):
        if p.rest:
            return click.Argument([p.name], nargs=-1, type=click.UNPROCESSED)
        if p.default is REQUIRED:
            return click.Argument([p.name])
        return click.Argument([p.name], default=p.default, required=False)
    if p.choices is not None:
        kind = click.Choice(list(p.choices), case_sensitive=True)
    elif p.range is not None:
        kind = click.IntRange(*p.range)
    elif p.kind is int:
        kind = click.INT
    else:
        kind = None
    return click.Option([*p.decls, p.dest], is_flag=p.flag, multiple=p.multiple, default=p.default,
                        type=None if p.flag else kind, help=p.help or None, show_default=p.show_default)


def command(name: str, verb: ModuleType) -> click.Command:
    """The click command of one verb module; its callback is the module's own main."""

    def callback(**params):
        return verb.main(click.get_current_context().obj, **params)

    settings = {}
    if not getattr(verb, "INTERSPERSED", True):
        settings["allow_interspersed_args"] = False
    if getattr(verb, "IGNORE_UNKNOWN", False):
        settings["ignore_unknown_options"] = True
    return click.Command(name, callback=callback, params=[param(p) for p in verb.PARAMS],
                         help=verb.HELP, short_help=verb.HELP.split("\n\n")[0],  # whole, in `--help`
                         context_settings=settings)
