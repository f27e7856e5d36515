"""``./pants run packages/entrypoints:server``: run Kingdom under uvicorn."""

from __future__ import annotations

import asyncio
import os
import sys

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from kingdom.adapters.migrations.runner import MigrationError
from kingdom.entrypoints import embedded
from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.settings import Settings, SettingsError


def main() -> None:
    try:
        settings = Settings.from_environ(os.environ)
    except SettingsError as error:
        print(f"kingdom: invalid setting {error}", file=sys.stderr)
        sys.exit(2)
    try:
        described = asyncio.run(embedded.prepare(settings))
    except (MigrationError, SQLAlchemyError, OSError) as error:
        print(f"kingdom: cannot prepare the database: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"kingdom: data in {settings.data_dir.resolve()}; {described}", file=sys.stderr)
    print(f"kingdom: serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    # uvicorn installs SIGINT/SIGTERM handlers that drain connections and run
    # the lifespan shutdown, so Ctrl-C stops the server cleanly.
    uvicorn.run(create_app(), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
