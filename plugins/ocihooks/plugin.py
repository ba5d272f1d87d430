"""Built-in plugin: the six kinds of OCI hooks, each in the place the runtime spec gives it.

prestart and createRuntime run in the lamina process during create (runtime namespaces);
createContainer in the init before pivot_root; startContainer in the init after `start`, before
exec; poststart in `start` after the process started; poststop on delete.
"""

from __future__ import annotations

import os

from lamina import hookimpl
from lamina.errors import LaminaError

# the runner (subprocess, ~2 ms of import) is imported only when a hook is to run; for the two
# kinds the init runs, in lamina_prepare (after pivot_root the host's files are out of reach)
NAME = "ocihooks"
KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
INIT_KINDS = ("createContainer", "startContainer")


def _hooks(config: dict, kind: str) -> list[dict]:
    return (config.get("hooks") or {}).get(kind) or []


def _run_all(ctx, kind: str, hooks: list[dict], status: str) -> None:
    if not hooks:
        return
    from lamina.plugins.ocihooks.runner import run_hook

    state = ctx.oci_state(status)
    for i, h in enumerate(hooks):
        run_hook(kind, i, h, state)


@hookimpl
def lamina_claims() -> list[str]:
    return ["hooks"]


@hookimpl
def lamina_features() -> dict:
    return {"hooks": list(KINDS)}


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    problems = []
    for kind, hooks in (config.get("hooks") or {}).items():
        if kind not in KINDS:
            continue
        for i, h in enumerate(hooks or []):
            where = f"hooks.{kind}[{i}]"
            if not h["path"].startswith("/"):
                problems.append(f"{where}.path: must be an absolute path, got {h['path']!r}")
            elif kind != "startContainer" and not os.path.exists(h["path"]):
                problems.append(f"{where}.path: {h['path']}: no such file or directory")
            if h.get("timeout") is not None and h["timeout"] <= 0:
                problems.append(f"{where}.timeout: must be greater than zero, got {h['timeout']}")
            for j, e in enumerate(h.get("env") or []):
                if "=" not in e:
                    problems.append(f"{where}.env[{j}]: {e!r} is not of the form KEY=VALUE")
    return problems


@hookimpl
def lamina_prepare(ctx) -> None:
    if any(_hooks(ctx.config, kind) for kind in INIT_KINDS):
        # the init runs these after the fork (startContainer after pivot_root): import the runner
        # (and through it json and subprocess) now
        from lamina.plugins.ocihooks import runner  # noqa: F401

    mine = ctx.mine(NAME)
    for kind in ("poststart", "poststop"):
        if _hooks(ctx.config, kind):
            mine[kind] = _hooks(ctx.config, kind)
    if mine.get("poststart"):
        ctx.scratch["wants_started"] = True


@hookimpl
def lamina_create_runtime(ctx) -> None:
    # the runtime spec's lifecycle: prestart (deprecated) then createRuntime; both during create,
    # so the state they get says "creating" (as runc's)
    _run_all(ctx, "prestart", _hooks(ctx.config, "prestart"), "creating")
    _run_all(ctx, "createRuntime", _hooks(ctx.config, "createRuntime"), "creating")


@hookimpl
def lamina_init_create_container(ctx) -> None:
    _run_all(ctx, "createContainer", _hooks(ctx.config, "createContainer"), "creating")


@hookimpl
def lamina_init_start_container(ctx) -> None:
    _run_all(ctx, "startContainer", _hooks(ctx.config, "startContainer"), "created")


@hookimpl
def lamina_started(ctx) -> None:
    _run_all(ctx, "poststart", ctx.mine(NAME).get("poststart") or [], "running")


@hookimpl
def lamina_teardown(ctx) -> None:
    # the runtime spec: a failing poststop hook is logged as a warning, and the remaining hooks
    # and the lifecycle go on as if it had succeeded (delete still succeeds)
    hooks = ctx.mine(NAME).pop("poststop", None) or []
    if hooks:
        from lamina.plugins.ocihooks.runner import run_hook
    for i, h in enumerate(hooks):
        try:
            run_hook("poststop", i, h, ctx.oci_state("stopped"))
        except LaminaError as e:
            from lamina import log

            log.warning(str(e))


@hookimpl
def lamina_audit(ctx) -> dict | None:
    """The OCI hooks the container runs (or ran), by kind: program paths in config order."""
    out = {kind: [h["path"] for h in _hooks(ctx.config, kind)] for kind in KINDS if _hooks(ctx.config, kind)}
    return out or None
