"""forklift's services. Each lives in ``services/<name>/`` and provides, by convention:

- ``cli.py``: ``group``, a click group registered under the ``forklift`` command;
- ``schema.py``: ``WAREHOUSE_TABLES``, its warehouse tables for ``forklift db migrate``;
- ``worker.py``: ``WorkerSettings`` for ``forklift worker <name>``;
- ``api.py`` (servers only): ``settings_cls`` and ``create_app(core, settings, background)``;
- ``demo.py``: ``PROCESSES`` to supervise, ``seed(demo)`` and ``check(demo)`` for ``forklift demo``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["SERVICES", "SERVERS", "service_module"]

SERVICES = ("sync", "dynamo_pump", "aggregator", "piwik", "rainforest", "dashboard_api")
# Services with an HTTP API, and their default ports.
SERVERS = {"rainforest": 8000, "dashboard_api": 8080}


def service_module(service: str, module: str) -> ModuleType:
    """Import ``services.<service>.<module>``."""
    return importlib.import_module(f"services.{service}.{module}")
