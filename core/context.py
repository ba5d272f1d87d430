"""What every hook is handed about the container being worked on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CreateOptions:
    """Command-line options of create/run that plugins may need."""

    console_socket: str | None = None
    pid_file: str | None = None
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0
    foreground: bool = False  # `run` without --detach: the runtime stays and relays


@dataclass
class Context:
    id: str
    root: str  # the state root (--root)
    bundle: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    rootfs: str = ""
    state_dir: str = ""
    options: CreateOptions = field(default_factory=CreateOptions)
    pid: int = 0  # the init's host pid, once known
    # per-plugin data saved in state.json, given back to later verbs (delete, kill --all, ...)
    plugin_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per-process scratch space, never saved (open fds, compiled filters, ...)
    scratch: dict[str, Any] = field(default_factory=dict)
    # set in the init: the channel to the lamina process (None after create returned)
    channel: Any = None
    stage: str = "host"

    def mine(self, plugin: str) -> dict[str, Any]:
        """This plugin's saved-state dict (created on first use)."""
        return self.plugin_state.setdefault(plugin, {})

    def exec_fifo(self) -> str:
        """The FIFO the init opens for writing, after every init hook up to ``lamina_init_ready``,
        to wait for `start`: a plugin that confines the init's own file access (Landlock, an LSM
        profile) must leave that one open allowed. A host path, reachable before pivot_root."""
        from lamina.state import FIFO

        return f"{self.state_dir}/{FIFO}"

    def oci_state(self, status: str) -> dict[str, Any]:
        """The state object given to OCI hooks on stdin."""
        st = {"ociVersion": self.config.get("ociVersion", ""), "id": self.id, "status": status,
              "pid": self.pid, "bundle": self.bundle}
        if self.config.get("annotations"):
            st["annotations"] = self.config["annotations"]
        return st
