"""``./pants run packages/entrypoints:server``: run Kingdom under uvicorn."""

from __future__ import annotations

import os
import sys

import uvicorn

from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.settings import Settings, SettingsError


def main() -> None:
    try:
        settings = Settings.from_environ(os.environ)
    except SettingsError as error:
        print(f"kingdom: invalid setting {error}", file=sys.stderr)
        sys.exit(2)
    print(f"kingdom: serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    # uvicorn installs SIGINT/SIGTERM handlers that drain connections and run
    # the lifespan shutdown, so Ctrl-C stops the server cleanly.
    uvicorn.run(create_app(), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
