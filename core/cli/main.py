"""The `lamina` command: global flags, then one lazily imported module per verb.

Only parsing lives here and in lamina.cli.commands; behaviour is in the core modules. This
module is on the path of every container operation, so it imports nothing it does not need:
argv is read from the verbs' declarations (lamina.cli.params) and click is imported only for
help, usage errors and whatever that reader leaves to it.
"""

from __future__ import annotations

import sys

from lamina import log
from lamina.cli.params import Opt, parse, parse_globals
from lamina.errors import LaminaError

VERBS = {
    "create": "create", "start": "start", "run": "run", "state": "state", "kill": "kill",
    "delete": "delete", "list": "list_", "spec": "spec", "features": "features", "plugins": "plugins",
    "pause": "pause", "resume": "resume", "exec": "exec_",
    "inspect": "inspect", "check": "check",
    "ps": "ps", "events": "events", "update": "update",
}

GLOBALS = (
    Opt("--root", default="/run/lamina", show_default=True, help="Directory for container state."),
    Opt("--log", dest="log_path", help="Log file (default: errors to stderr only)."),
    Opt("--log-format", choices=("text", "json"), default="text", show_default=True,
        help="How errors are written to the log file (json: one object a line, as clients parse)."),
    Opt("--debug", flag=True, help="Log debug messages."),
    Opt("--systemd-cgroup", flag=True, help="Use the systemd cgroup driver (not supported yet)."),
    Opt("--rootless", default="auto", choices=("true", "false", "auto"),
        help="Accepted for runc compatibility: true, false or auto."),
)


class Globals:
    """The global flags, handed to every verb's main as ``g``."""

    __slots__ = ("root", "debug", "systemd_cgroup", "rootless")

    def __init__(self, root: str, log_path: str | None, log_format: str, debug: bool,
                 systemd_cgroup: bool, rootless: str) -> None:
        import os

        log.configure(log_path, log_format, debug)
        if debug:
            log.debug(f"lamina {' '.join(sys.argv[1:])}")
        self.root = os.path.abspath(root)
        self.debug, self.systemd_cgroup, self.rootless = debug, systemd_cgroup, rootless.lower()

    def no_systemd(self, bundle: str | None = None) -> None:
        if self.systemd_cgroup:
            from lamina.cgroupdriver import refuse_systemd

            refuse_systemd(bundle)


def _verb(name: str):
    import importlib

    return importlib.import_module(f"lamina.cli.commands.{VERBS[name]}")


def _fast(argv: list[str]) -> int | None:
    """Run the verb without click when argv is plain; None when click must read it."""
    head = parse_globals(argv, GLOBALS)
    if head is None or head[1] not in VERBS:
        return None
    values, name, rest = head
    verb = _verb(name)
    params = parse(rest, verb.PARAMS, getattr(verb, "INTERSPERSED", True))
    if params is None:
        return None
    rv = verb.main(Globals(**values), **params)
    return rv if isinstance(rv, int) else 0


def _click(argv: list[str]) -> int:
    import click
    from lamina.cli.clickbuild import command, param

    class LazyGroup(click.Group):
        def list_commands(self, ctx: click.Context) -> list[str]:
            return sorted(VERBS)

        def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
            return command(name, _verb(name)) if name in VERBS else None

    def callback(**values):
        click.get_current_context().obj = Globals(**values)

    group = LazyGroup("lamina", callback=callback, params=[param(p) for p in GLOBALS],
                      help="lamina: an OCI container runtime whose isolation layers are plugins.",
                      context_settings={"help_option_names": ["-h", "--help"]})
    click.version_option(package_name="lamina", prog_name="lamina")(group)
    try:
        rv = group.main(args=argv, prog_name="lamina", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        return 130
    except click.ClickException as e:
        # runc's wording habits and exit code: usage errors are errors like any other (1)
        msg = e.format_message().rstrip(".")
        msg = msg[:1].lower() + msg[1:]
        ctx = getattr(e, "ctx", None)
        if ctx is not None and ctx.parent is not None:
            msg = f"{ctx.info_name}: {msg}"
        raise LaminaError(msg) from None
    return rv if isinstance(rv, int) else 0


def main(argv: list[str] | None = None) -> None:
    """The `lamina` program: run the command line, then leave at once (see _exit)."""
    _exit(run_cli(sys.argv[1:] if argv is None else list(argv)))


def run_cli(args: list[str]) -> int:
    """Run one command line and return its exit code, every error reported as one line."""
    try:
        rv = _fast(args)
        if rv is None:
            rv = _click(args)
    except LaminaError as e:
        log.error(str(e))
        rv = e.exit_code
    except OSError as e:
        from lamina.init import describe

        log.error(describe(e))
        rv = 1
    except Exception as e:  # never a traceback for the user; --debug shows it
        log.error(f"internal error: {type(e).__name__}: {e}")
        if log._settings["debug"]:
            import traceback

            traceback.print_exc()
        rv = 1
    return rv


def _exit(code: int) -> None:
    """Flush and leave without the interpreter's teardown: tearing down every module and
    collecting every object costs ~20 ms, more than `state` itself. Nothing of lamina's needs
    it: logs are written with os.write, nothing registers atexit handlers."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
