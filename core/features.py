"""`lamina features`: the runtime-spec features document, assembled from the enabled plugins.

Nothing here is hand-written about isolation: each plugin reports what it really applies on this
host (lamina_features), and the core only adds its own facts (versions, the annotations it reads).
"""

from __future__ import annotations

from typing import Any

from lamina import OCI_VERSION


def features(plugins: Any | None = None) -> dict[str, Any]:
    if plugins is None:
        from lamina.pluginmanager import Plugins

        plugins = Plugins()
    doc: dict[str, Any] = {"ociVersionMin": "1.0.0", "ociVersionMax": OCI_VERSION}
    doc.update(plugins.features())
    doc.setdefault("annotations", {})
    doc["annotations"]["org.opencontainers.runtime-spec.features.lamina.plugins"] = ",".join(
        sorted(plugins.infos))
    return doc
