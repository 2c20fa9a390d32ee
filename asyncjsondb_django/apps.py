"""The app config: registers the system checks once Django is ready."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

from .checks import check_settings


class AsyncJSONDBConfig(AppConfig):
    name = "asyncjsondb_django"
    verbose_name = "AsyncJSONDB"

    def ready(self) -> None:
        checks.register(check_settings, "asyncjsondb")
