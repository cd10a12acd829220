"""The dashboard_api service's warehouse tables."""

from shared.schema import Table

WAREHOUSE_TABLES: tuple[Table, ...] = ()
