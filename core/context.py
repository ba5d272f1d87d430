"""What every hook is handed about the container being worked on."""

from __future__ import annotations

# Plain classes, not dataclasses: `state`, `start` and `kill` build a Context too, and
# dataclasses imports inspect (~5 ms, more than all the rest of `state`).


class CreateOptions:
    """Command-line options of create/run (and exec) that plugins may need."""

    __slots__ = ("console_socket", "pid_file", "no_pivot", "no_new_keyring", "preserve_fds", "foreground")

    def __init__(self, console_socket: str | None = None, pid_file: str | None = None, no_pivot: bool = False,
                 no_new_keyring: bool = False, preserve_fds: int = 0, foreground: bool = False) -> None:
        self.console_socket = console_socket
        self.pid_file = pid_file
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.foreground = foreground  # `run` without --detach: the runtime stays and relays


class Context:
    """The container being worked on, as every hook sees it.

    ``plugin_state`` is per-plugin data saved in state.json and given back to later verbs
    (delete, kill --all, ...); ``scratch`` is per-process space never saved (open fds, compiled
    filters, ...); ``channel`` is set in the init (the channel to the lamina process, None once
    create returned); ``stage`` is "host", "init" or "exec"."""

    def __init__(self, id: str, root: str, bundle: str = "", config: dict | None = None, rootfs: str = "",
                 state_dir: str = "", options: CreateOptions | None = None, pid: int = 0,
                 plugin_state: dict | None = None, scratch: dict | None = None, channel: object = None,
                 stage: str = "host") -> None:
        self.id = id
        self.root = root  # the state root (--root)
        self.bundle = bundle
        self.config: dict = config if config is not None else {}
        self.rootfs = rootfs
        self.state_dir = state_dir
        self.options = options if options is not None else CreateOptions()
        self.pid = pid  # the init's host pid, once known
        self.plugin_state: dict = plugin_state if plugin_state is not None else {}
        self.scratch: dict = scratch if scratch is not None else {}
        self.channel = channel
        self.stage = stage

    def mine(self, plugin: str) -> dict:
        """This plugin's saved-state dict (created on first use)."""
        return self.plugin_state.setdefault(plugin, {})

    def exec_fifo(self) -> str:
        """The FIFO the init opens for writing, after every init hook up to ``lamina_init_ready``,
        to wait for `start`: a plugin that confines the init's own file access (Landlock, an LSM
        profile) must leave that one open allowed. A host path, reachable before pivot_root."""
        from lamina.state import FIFO

        return f"{self.state_dir}/{FIFO}"

    def oci_state(self, status: str) -> dict:
        """The state object given to OCI hooks on stdin."""
        st = {"ociVersion": self.config.get("ociVersion", ""), "id": self.id, "status": status,
              "pid": self.pid, "bundle": self.bundle}
        if self.config.get("annotations"):
            st["annotations"] = self.config["annotations"]
        return st
