"""``./pants run packages/entrypoints:server``: run Kingdom under uvicorn."""

from __future__ import annotations

import asyncio
import os
import sys

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from kingdom.adapters.migrations.runner import MigrationError
from kingdom.adapters.sql.capacity import PoolTooLarge, ensure_pool_fits
from kingdom.entrypoints import embedded, event_delivery
from kingdom.entrypoints.admin import ensure_admin, ensure_admin_covers_every_resource
from kingdom.entrypoints.composition import build
from kingdom.entrypoints.http.metrics import prepare_multiprocess
from kingdom.entrypoints.log_format import logging_config
from kingdom.entrypoints.settings import Settings, SettingsError
from kingdom.services.outages import Outage


def main() -> None:
    try:
        settings = Settings.from_environ(os.environ)
    except SettingsError as error:
        print(f"kingdom: invalid setting {error}", file=sys.stderr)
        sys.exit(2)
    try:
        described = asyncio.run(prepare(settings))
    except PoolTooLarge as error:
        print(f"kingdom: invalid setting {error}", file=sys.stderr)
        sys.exit(2)
    except (MigrationError, SQLAlchemyError, OSError, ValueError, Outage) as error:
        print(f"kingdom: cannot prepare the database: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"kingdom: data in {settings.data_dir.resolve()}; {described}", file=sys.stderr)
    print(f"kingdom: {event_delivery.describe(settings.events)}", file=sys.stderr)
    print(f"kingdom: serving on http://{settings.host}:{settings.port}/graphql", file=sys.stderr)
    if settings.workers > 1 and settings.metrics_allow:
        # Before uvicorn spawns the workers: they inherit PROMETHEUS_MULTIPROC_DIR and add up.
        prepare_multiprocess(settings.data_dir / "metrics")
    # uvicorn installs SIGINT/SIGTERM handlers that drain connections and run
    # the lifespan shutdown, so Ctrl-C stops the server cleanly.
    uvicorn.run(
        "kingdom.entrypoints.asgi:create",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # Every logger, uvicorn's too, writes JSON lines to stderr; uvicorn's
        # own access log is off: kingdom.access logs each request once, with
        # its request id, operation and user.
        log_config=logging_config("INFO"),
        access_log=False,
        # Login throttling counts per client address: X-Forwarded-For is only
        # believed from the configured proxies (uvicorn would otherwise trust
        # it from 127.0.0.1, letting any local client choose its address).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
    )


async def prepare(settings: Settings) -> str:
    """Migrate the embedded database and create the first administrator, once."""
    described = await embedded.prepare(settings)
    kingdom = build(settings)
    try:
        # Before anything is written: every worker's pool must fit the server.
        await ensure_pool_fits(kingdom.database, settings.workers, settings.database_pool_size)
        admin = await ensure_admin(kingdom, settings.admin_password)
        widened = await ensure_admin_covers_every_resource(kingdom)
    finally:
        await kingdom.database.dispose()
    if admin is not None:
        shown = admin.password if admin.generated else "<from KINGDOM_ADMIN_PASSWORD>"
        print(
            f"kingdom: created the administrator {admin.email} with password {shown}"
            + (" (shown once: store it now)" if admin.generated else ""),
            file=sys.stderr,
        )
    elif settings.admin_password is not None:
        # Only the first start uses it; changing it later must not fail silently.
        print(
            "kingdom: KINGDOM_ADMIN_PASSWORD is ignored: users exist; use "
            "`./pants run packages/entrypoints:admin -- set-password admin@kingdom.local`",
            file=sys.stderr,
        )
    if widened:
        print(f"kingdom: the admin role now also covers {', '.join(widened)}", file=sys.stderr)
    return described


if __name__ == "__main__":
    main()
