"""An existing container as the verbs after `create` see it: its stored state, its live status,
and a Context rebuilt for the plugins."""

from __future__ import annotations

import os

from lamina import state
from lamina.context import Context
from lamina.ids import check_id


class Container:
    __slots__ = ("root", "id", "st", "lock_fd")

    def __init__(self, root: str, cid: str, st: dict, lock_fd: int = -1) -> None:
        self.root, self.id, self.st, self.lock_fd = root, cid, st, lock_fd

    @property
    def dir(self) -> str:
        return state.container_dir(self.root, self.id)

    @classmethod
    def load(cls, root: str, cid: str, lock: bool = False, exclusive: bool = True) -> Container:
        """The container with its state; with lock=True, holding its lock (see `close`)."""
        check_id(cid)
        fd = state.lock(root, cid, exclusive=exclusive) if lock else -1
        try:
            st = state.read(root, cid)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        return cls(root, cid, st, fd)

    def close(self) -> None:
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1

    def status(self) -> str:
        return state.status(self.dir, self.st)

    @property
    def pid(self) -> int:
        return self.st.get("pid") or 0

    def context(self) -> Context:
        st = self.st
        ctx = Context(id=self.id, root=self.root, bundle=st.get("bundle", ""),
                      config={"ociVersion": st.get("ociVersion", ""),
                              "annotations": st.get("annotations") or {}},
                      rootfs=st.get("rootfs", ""), state_dir=self.dir, pid=self.pid,
                      plugin_state=st.get("plugins") or {})
        ctx.scratch["init_start"] = st.get("init_start")
        return ctx
