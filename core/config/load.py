"""Reading a bundle's config.json."""

from __future__ import annotations

import os

from lamina import jsonfast as json
from lamina.errors import ConfigError, LaminaError


def bundle_path(bundle: str | None) -> str:
    return os.path.abspath(bundle or os.getcwd())


def load(bundle: str) -> dict:
    """Parse `<bundle>/config.json`; every failure is one clear line, never a traceback."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise LaminaError(f"{path}: no such file or directory") from None
    except OSError as e:
        raise LaminaError(f"cannot read {path}: {e.strerror}") from None
    try:
        config = json.loads(data)
    except ValueError as e:
        raise ConfigError([f"config.json: invalid JSON: {e}"]) from None
    return config


def rootfs_path(bundle: str, config: dict) -> str:
    root = config.get("root") or {}
    path = root.get("path", "rootfs") if isinstance(root, dict) else "rootfs"
    return os.path.normpath(os.path.join(bundle, path))
