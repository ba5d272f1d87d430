"""Finding, loading and calling plugins: the one typed facade the core calls hooks through.

Discovery is stevedore's, over entry points in group ``lamina.plugins``; built-in plugins are
found exactly like a third party's. Because enumerating entry points costs tens of
milliseconds (importlib.metadata) on every container operation, the list stevedore returned is
memoised in an index file keyed by sys.path and the modification times of its directories, so a
newly installed or removed distribution invalidates it, and by the admin file.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

from lamina import adminconf, pluginapi
from lamina.config import claims as claims_mod
from lamina.errors import LaminaError

GROUP = "lamina.plugins"


class PluginInfo:
    """One entry point of group lamina.plugins (a plain class: the memo is its __dict__)."""

    def __init__(self, name: str, target: str, dist: str, version: str, api: int | None = None) -> None:
        self.name = name
        self.target = target  # "module" or "module:attr"
        self.dist = dist
        self.version = version
        self.api = api  # the hook API version it declared (set when loaded)


def _index_path() -> str:
    # one memo per interpreter prefix (virtualenv), so several installs never evict each other
    tag = sys.prefix.strip("/").replace("/", "_")
    return os.path.join(os.environ.get("LAMINA_CACHE_DIR", "/var/cache/lamina"), f"plugin-index-{tag}.json")


def _path_key() -> list:
    # the running script's directory ('' for -c) holds no distributions, and keying on it made
    # lamina, pytest and `python -c` evict each other's memo; lamina's launcher removes it from
    # sys.path itself (lamina.launcher), pip's script and python -c leave it first
    key = []
    for p in sys.path[0 if sys.flags.no_site else 1:]:
        try:
            key.append([p, os.stat(p or ".").st_mtime_ns])
        except OSError:
            key.append([p, 0])
    return key


def _discover() -> list[PluginInfo]:
    """Ask stevedore for every entry point in the group (without importing any plugin)."""
    from stevedore import NamedExtensionManager

    mgr = NamedExtensionManager(GROUP, names=[], invoke_on_load=False)
    out = []
    owners: dict[tuple[str, str], tuple[str, str]] | None = None
    for ep in mgr.list_entry_points():
        dist = getattr(ep, "dist", None)
        name, version = getattr(dist, "name", "") or "", getattr(dist, "version", "") or ""
        if not name:  # stevedore's own cache rebuilds entry points without their distribution
            owners = _entry_point_owners() if owners is None else owners
            name, version = owners.get((ep.name, ep.value), ("", ""))
        out.append(PluginInfo(ep.name, ep.value, name, version))
    return out


def _entry_point_owners() -> dict[tuple[str, str], tuple[str, str]]:
    """(entry point name, target) -> (distribution, version), for `lamina plugins`."""
    from importlib import metadata

    owners = {}
    for d in metadata.distributions():
        for ep in d.entry_points:
            if ep.group == GROUP:
                owners.setdefault((ep.name, ep.value), (d.metadata["Name"] or "", d.version or ""))
    return owners


def discover() -> list[PluginInfo]:
    """The installed plugins, from the memo when it is current, otherwise from stevedore."""
    key = _path_key()
    idx = _index_path()
    try:
        with open(idx) as f:
            data = json.load(f)
        if data.get("key") == key:
            return [PluginInfo(**p) for p in data["plugins"]]
    except (OSError, ValueError, TypeError, KeyError):
        pass
    found = _discover()
    try:
        os.makedirs(os.path.dirname(idx), exist_ok=True)
        tmp = f"{idx}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"key": key, "plugins": [p.__dict__ for p in found]}, f)
        os.rename(tmp, idx)
    except OSError:
        pass
    return found


def _load_target(info: PluginInfo) -> Any:
    mod_name, _, attr = info.target.partition(":")
    try:
        obj = importlib.import_module(mod_name.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
    except Exception as e:  # any import failure of a plugin is fatal, with its cause
        raise LaminaError(f"plugin {info.name} ({info.target}) failed to load: "
                          f"{type(e).__name__}: {e}") from None
    return obj


def _manager_class(pluggy):
    """pluggy's PluginManager, with a quicker look at a module's names: pluggy examines every
    attribute of every plugin with inspect.getattr_static (~3 ms per create for the built-ins'
    imports and helpers); for a module, a name that neither has the hook prefix nor holds a
    marked function is passed over at once (overriding parse_hookimpl_opts, as pytest does)."""
    import types

    class Manager(pluggy.PluginManager):
        def parse_hookimpl_opts(self, plugin, name):
            if not name.startswith(pluginapi.PREFIX) and isinstance(plugin, types.ModuleType) \
                    and not hasattr(plugin.__dict__.get(name), "lamina_impl"):
                return None
            return super().parse_hookimpl_opts(plugin, name)

    return Manager


class Plugins:
    """The loaded, enabled plugins and one method per hook."""

    def __init__(self, admin: adminconf.AdminConfig | None = None) -> None:
        import pluggy
        from lamina import hookspecs

        self.admin = admin if admin is not None else adminconf.load()
        self.pm = _manager_class(pluggy)("lamina")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.disabled: list[PluginInfo] = []
        found = discover()
        specs = pluginapi.spec_names()
        names = {p.name for p in found}
        missing = sorted(self.admin.required - names)
        if missing:
            raise LaminaError(f"plugin {', '.join(missing)} is required by {self.admin.path} "
                              f"but not installed (no entry point in group {GROUP})")
        for info in found:
            if info.name in self.admin.disabled:
                self.disabled.append(info)
                continue
            if info.name in self.infos:
                raise LaminaError(f"two plugins are named {info.name}: {self.infos[info.name].target} "
                                  f"and {info.target}")
            obj = _load_target(info)
            # a plugin of another hook API, or a hook name pluggy would ignore, is a load error
            info.api = pluginapi.check_version(info.name, info.dist, info.target, obj)
            pluginapi.check_hook_names(info.name, obj, specs)
            try:
                self.pm.register(obj, name=info.name)
            except Exception as e:
                raise LaminaError(f"plugin {info.name} cannot be registered: {e}") from None
            self.infos[info.name] = info
        try:
            self.pm.check_pending()
        except Exception as e:  # a misspelled hook name is an error, not a silent no-op
            raise LaminaError(f"plugin hook error: {e}") from None
        self.hook = self.pm.hook
        self.hook.lamina_configure(settings=self.admin.settings)

    # ------------------------------------------------------------------ introspection

    def plugin_name(self, plugin: Any) -> str:
        return self.pm.get_name(plugin) or "?"

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.pm.get_plugin(name)
        return sorted(c.name for c in (self.pm.get_hookcallers(plugin) or []))

    def claims_by_plugin(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for impl in self.hook.lamina_claims.get_hookimpls():
            out[impl.plugin_name] = list(impl.function() or [])
        return out

    def claims(self) -> set[str]:
        return {c for cs in self.claims_by_plugin().values() for c in cs}

    # ------------------------------------------------------------------ host side

    def features(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in reversed(self.hook.lamina_features()):
            _merge(merged, part or {})
        return merged

    def validate(self, config: dict, bundle: str) -> list[str]:
        """Every problem: fields nobody honours, then each plugin's own findings."""
        problems = [f"no enabled plugin honours {f}" for f in claims_mod.unclaimed(config, self.claims())]
        for result in reversed(self.hook.lamina_validate(config=config, bundle=bundle)):
            problems.extend(result or [])
        return problems

    def prepare(self, ctx: Any) -> None:
        self.hook.lamina_prepare(ctx=ctx)

    def child_spawned(self, ctx: Any, pid: int) -> None:
        self.hook.lamina_child_spawned(ctx=ctx, pid=pid)

    def write_id_maps(self, ctx: Any, pid: int) -> None:
        self.hook.lamina_write_id_maps(ctx=ctx, pid=pid)

    def apply_limits(self, ctx: Any) -> None:
        self.hook.lamina_apply_limits(ctx=ctx)

    def create_runtime(self, ctx: Any) -> None:
        self.hook.lamina_create_runtime(ctx=ctx)

    def created(self, ctx: Any) -> None:
        self.hook.lamina_created(ctx=ctx)

    def audit(self, ctx: Any) -> dict[str, Any]:
        """Each plugin's report of what it applied, by plugin name; a failing report is kept as
        that plugin's error (the audit describes the container, it does not gate it)."""
        out: dict[str, Any] = {}
        for impl in reversed(self.hook.lamina_audit.get_hookimpls()):
            try:
                result = impl.function(ctx=ctx)
            except Exception as e:
                result = {"error": f"{type(e).__name__}: {e}"}
            if result is not None:
                out[impl.plugin_name] = result
        return out

    def started(self, ctx: Any) -> None:
        self.hook.lamina_started(ctx=ctx)

    def teardown(self, ctx: Any) -> list[str]:
        """Call every implementation, whatever the others do; return all their errors."""
        errors = []
        for impl in reversed(self.hook.lamina_teardown.get_hookimpls()):
            try:
                impl.function(ctx=ctx)
            except Exception as e:
                errors.append(f"{impl.plugin_name}: {e}")
        return errors

    def kill_all(self, ctx: Any, signal: int) -> bool:
        return bool(self.hook.lamina_kill_all(ctx=ctx, signal=signal))

    def processes(self, ctx: Any) -> list[int] | None:
        return self.hook.lamina_processes(ctx=ctx)

    def freeze(self, ctx: Any, frozen: bool) -> bool:
        return bool(self.hook.lamina_freeze(ctx=ctx, frozen=frozen))

    def stats(self, ctx: Any) -> dict[str, Any] | None:
        return self.hook.lamina_stats(ctx=ctx)

    def update(self, ctx: Any, resources: dict[str, Any]) -> None:
        """Every plugin applies its part; a key that none applied is an error (fail closed)."""
        applied: set[str] = set()
        for part in self.hook.lamina_update(ctx=ctx, resources=resources):
            applied |= set(part or [])
        missing = [k for k, v in resources.items() if v not in (None, {}, []) and k not in applied]
        if missing:
            raise LaminaError("update: no enabled plugin applies "
                              + ", ".join(f"linux.resources.{k}" for k in sorted(missing)))

    # ------------------------------------------------------------------ exec

    def exec_prepare(self, ctx: Any) -> None:
        self.hook.lamina_exec_prepare(ctx=ctx)

    def exec_spawned(self, ctx: Any, pid: int) -> None:
        self.hook.lamina_exec_spawned(ctx=ctx, pid=pid)

    def exec_join(self, ctx: Any) -> None:
        self.hook.lamina_exec_join(ctx=ctx)

    # ------------------------------------------------------------------ init side

    def init_user_namespace(self, ctx: Any) -> bool:
        return any(self.hook.lamina_init_user_namespace(ctx=ctx))

    def init_namespaces(self, ctx: Any) -> None:
        self.hook.lamina_init_namespaces(ctx=ctx)

    def init_rootfs(self, ctx: Any) -> None:
        self.hook.lamina_init_rootfs(ctx=ctx)

    def init_create_container(self, ctx: Any) -> None:
        self.hook.lamina_init_create_container(ctx=ctx)

    def init_finalize(self, ctx: Any) -> None:
        self.hook.lamina_init_finalize(ctx=ctx)

    def init_pivot(self, ctx: Any) -> None:
        if not self.hook.lamina_init_pivot(ctx=ctx):
            raise LaminaError("no enabled plugin changes the root (lamina_init_pivot)")

    def init_lsm(self, ctx: Any) -> None:
        self.hook.lamina_init_lsm(ctx=ctx)

    def init_privileges(self, ctx: Any) -> None:
        self.hook.lamina_init_before_privileges(ctx=ctx)
        self.hook.lamina_init_privileges(ctx=ctx)
        self.hook.lamina_init_after_privileges(ctx=ctx)

    def init_ready(self, ctx: Any) -> None:
        self.hook.lamina_init_ready(ctx=ctx)

    def init_start_container(self, ctx: Any) -> None:
        self.hook.lamina_init_start_container(ctx=ctx)

    def init_exec(self, ctx: Any) -> None:
        self.hook.lamina_init_exec(ctx=ctx)
        raise LaminaError("no enabled plugin execs the container process (lamina_init_exec)")


def _merge(into: dict, part: dict) -> None:
    for k, v in part.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        elif isinstance(v, list) and isinstance(into.get(k), list):
            into[k] = into[k] + [x for x in v if x not in into[k]]
        else:
            into[k] = v
