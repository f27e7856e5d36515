"""The Lambda zip works on its own: unzipped, on a bare Python 3.11, given a real SQS batch.

``./pants test`` builds ``packages/workers:lambda`` first (the test's
``runtime_package_dependencies``) and puts the zip at
``packages.workers/lambda.zip`` in the sandbox. Run by pytest directly, the
test uses ``dist/packages.workers/lambda.zip`` from a previous
``./pants package packages/workers:lambda`` (rebuild it after changing code)
and skips when there is none.

The handler runs in a child interpreter started with ``-I -S``: no
site-packages, no PYTHONPATH, nothing on ``sys.path`` but the standard
library and the unzipped directory, as in Lambda (whose own boto3 the zip
does not rely on). The batch is built here, with the code the relay uses.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kingdom.adapters.messaging.envelope import encode_envelope
from kingdom.adapters.sql.event_codec import EVENTS
from kingdom.domain.identity.events import UserRegistered
from kingdom.domain.ledger.events import AccountOpened, FundsDeposited
from kingdom.domain.shared import Event, MessageMeta
from kingdom.services.ports.outbox import OutboxMessage

ROOT = Path(__file__).resolve().parents[2]
ZIP_PATH = Path("packages.workers") / "lambda.zip"
"""Where ``./pants package packages/workers:lambda`` puts the zip (under ``dist/``)."""
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:kingdom-events"

# Tags a wheel may carry to load on Lambda's python3.11 x86_64 (Amazon Linux 2023, glibc 2.34).
_LAMBDA_TAG = re.compile(
    r"(py3|py311|cp3(\d+))-(none|abi3|cp311)-"
    r"(any|manylinux1_x86_64|manylinux2010_x86_64|manylinux2014_x86_64|manylinux_2_(\d+)_x86_64)"
)

# Run in the child: import the zip's entry as Lambda does and hand it the batch twice
# (SQS delivers at least once). Prints the two answers as JSON.
_RUN_HANDLER = """
import json, sys
code_dir, event_file = sys.argv[1], sys.argv[2]
leaked = [entry for entry in sys.path if "site-packages" in entry]
assert not leaked, leaked
sys.path.insert(0, code_dir)
import importlib.util
assert importlib.util.find_spec("kingdom.entrypoints") is None, "the entrypoints ring is in the zip"
import lambda_function
from kingdom.workers.lambda_handler import handle
assert lambda_function.handler is handle
event = json.loads(open(event_file).read())
first = handle(event, None)
again = handle(event, None)
print(json.dumps({"first": first, "again": again}))
"""


@pytest.fixture(scope="module")
def lambda_zip() -> Path:
    for candidate in (Path.cwd() / ZIP_PATH, ROOT / "dist" / ZIP_PATH):
        if candidate.is_file():
            return candidate
    pytest.skip(
        f"no Lambda zip at dist/{ZIP_PATH}: build it with "
        "`./pants package packages/workers:lambda` (`./pants test` builds it itself)"
    )


@pytest.fixture(scope="module")
def code_dir(lambda_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("task")
    assert not any(directory.iterdir())
    with zipfile.ZipFile(lambda_zip) as archive:
        archive.extractall(directory)
    return directory


def test_the_zip_holds_the_workers_but_not_the_entrypoints(lambda_zip: Path) -> None:
    with zipfile.ZipFile(lambda_zip) as archive:
        names = archive.namelist()
        entry = archive.read("lambda_function.py").decode()
    assert "kingdom/workers/lambda_handler.py" in names
    assert "from kingdom.workers.lambda_handler import handle as handler" in entry
    assert not [name for name in names if name.startswith("kingdom/entrypoints")]


def test_every_wheel_in_the_zip_loads_on_lambda(lambda_zip: Path) -> None:
    with zipfile.ZipFile(lambda_zip) as archive:
        wheels = {
            name.split("/")[0]: archive.read(name).decode()
            for name in archive.namelist()
            if re.fullmatch(r"[^/]+\.dist-info/WHEEL", name)
        }
    assert any(name.startswith("asyncpg-") for name in wheels), sorted(wheels)
    for name, metadata in wheels.items():
        tags = [
            line.split(":", 1)[1].strip()
            for line in metadata.splitlines()
            if line.startswith("Tag:")
        ]
        # A wheel installs where any one of its tags is supported.
        assert any(_loads_on_lambda(tag) for tag in tags), f"{name} ({tags}) cannot load on Lambda"


def test_the_handler_fails_only_the_poison_record(code_dir: Path, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    account_id, owner_id = uuid.uuid4().hex, uuid.uuid4().hex
    events: list[Event] = [
        UserRegistered(
            meta=meta(now), user_id=owner_id, email="ada@example.com", display_name="Ada"
        ),
        AccountOpened(meta=meta(now), account_id=account_id, owner_id=owner_id, currency="EUR"),
        FundsDeposited(meta=meta(now), account_id=account_id, amount=1_000, balance=1_000),
    ]
    records = [sqs_record(encode_envelope(outbox_message(event))) for event in events]
    poison = sqs_record('{"envelope": 1, "payload": "not an event"}')
    records.insert(1, poison)
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"Records": records}), encoding="utf-8")
    data_dir = tmp_path / "data"
    environment = {
        # The embedded SQLite in the data directory, migrated by the handler's cold start.
        "KINGDOM_DATA_DIR": str(data_dir),
        # What Lambda sets; nothing here calls AWS.
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_NAME": "kingdom-worker",
        "LANG": "C.UTF-8",
    }

    answer = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _RUN_HANDLER, str(code_dir), str(event_file)],
        cwd=code_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert answer.returncode == 0, answer.stderr
    results = json.loads(answer.stdout.strip().splitlines()[-1])
    expected = {"batchItemFailures": [{"itemIdentifier": poison["messageId"]}]}
    assert results["first"] == expected
    # Redelivered, the good records are skipped by the inbox; the poison fails again.
    assert results["again"] == expected
    with sqlite3.connect(data_dir / "kingdom.db") as database:
        audited = database.execute("SELECT message_id FROM audit_entries").fetchall()
    assert sorted(row[0] for row in audited) == sorted(event.message_id for event in events)


def _loads_on_lambda(tag: str) -> bool:
    match = _LAMBDA_TAG.fullmatch(tag)
    if match is None:
        return False
    python_minor, abi, glibc_minor = match.group(2), match.group(3), match.group(5)
    if python_minor is not None:
        # cp311 for CPython 3.11's own ABI; the stable ABI (abi3) of any 3.x up to 3.11.
        stable = abi == "abi3" and int(python_minor) <= 11
        if not (stable or (python_minor == "11" and abi == "cp311")):
            return False
    return glibc_minor is None or int(glibc_minor) <= 34


def meta(now: datetime) -> MessageMeta:
    return MessageMeta(message_id=uuid.uuid4().hex, occurred_at=now)


def outbox_message(event: Event) -> OutboxMessage:
    """The message the relay would take from the outbox for ``event``."""
    event_type, schema_version, payload = EVENTS.encode(event)
    return OutboxMessage(
        message_id=event.message_id,
        event_type=event_type,
        schema_version=schema_version,
        payload=payload,
        occurred_at=event.occurred_at,
    )


def sqs_record(body: str) -> dict[str, Any]:
    """One record of the event Lambda gives a function subscribed to an SQS queue."""
    now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now_ms,
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # SQS's checksum, not security
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "eu-west-1",
    }
