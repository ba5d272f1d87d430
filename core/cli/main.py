"""The `lamina` command: global flags, then one lazily imported module per verb.

Only parsing lives here and in lamina.cli.commands; behaviour is in the core modules. This
module is on the path of every container operation, so it imports nothing it does not need.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click
from lamina import log
from lamina.errors import LaminaError

VERBS = {
    "create": "create", "start": "start", "run": "run", "state": "state", "kill": "kill",
    "delete": "delete", "list": "list_", "spec": "spec", "features": "features", "plugins": "plugins",
    "pause": "pause", "resume": "resume", "exec": "exec_",
    "inspect": "inspect", "check": "check",
    "ps": "ps", "events": "events", "update": "update",
}


@dataclass
class Globals:
    root: str
    debug: bool
    systemd_cgroup: bool
    rootless: str

    def no_systemd(self, bundle: str | None = None) -> None:
        if self.systemd_cgroup:
            from lamina.cgroupdriver import refuse_systemd

            refuse_systemd(bundle)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        mod = VERBS.get(name)
        if mod is None:
            return None
        import importlib

        return importlib.import_module(f"lamina.cli.commands.{mod}").command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default="/run/lamina", show_default=True, help="Directory for container state.")
@click.option("--log", "log_path", default=None, help="Log file (default: errors to stderr only).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--debug", is_flag=True, help="Log debug messages.")
@click.option("--systemd-cgroup", is_flag=True, help="Use the systemd cgroup driver (not supported yet).")
@click.option("--rootless", default="auto",
              type=click.Choice(["true", "false", "auto"], case_sensitive=False),
              help="Accepted for runc compatibility: true, false or auto.")
@click.version_option(package_name="lamina", prog_name="lamina")
@click.pass_context
def cli(ctx: click.Context, root, log_path, log_format, debug, systemd_cgroup, rootless) -> None:
    """lamina: an OCI container runtime whose isolation layers are plugins."""
    log.configure(log_path, log_format, debug)
    import os

    if debug:
        log.debug(f"lamina {' '.join(sys.argv[1:])}")

    ctx.obj = Globals(os.path.abspath(root), debug, systemd_cgroup, rootless)


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="lamina", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        # runc's wording habits and exit code: usage errors are errors like any other (1)
        msg = e.format_message().rstrip(".")
        msg = msg[:1].lower() + msg[1:]
        ctx = getattr(e, "ctx", None)
        if ctx is not None and ctx.parent is not None:
            msg = f"{ctx.info_name}: {msg}"
        log.error(msg)
        sys.exit(1)
    except LaminaError as e:
        log.error(str(e))
        sys.exit(e.exit_code)
    except OSError as e:
        from lamina.init import describe

        log.error(describe(e))
        sys.exit(1)
    except Exception as e:  # never a traceback for the user; --debug shows it
        log.error(f"internal error: {type(e).__name__}: {e}")
        if log._settings["debug"]:
            import traceback

            traceback.print_exc()
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
