"""The poller's and redrive's command lines refuse bad configuration before touching SQS."""

from __future__ import annotations

import pytest

from kingdom.workers import poller, redrive

QUEUE = "http://127.0.0.1:1/123456789012/kingdom"


def test_the_poller_needs_a_queue(capsys: pytest.CaptureFixture[str]) -> None:
    assert poller.run({}) == 2
    assert "KINGDOM_SQS_QUEUE_URL is not set" in capsys.readouterr().err


def test_the_poller_refuses_a_bad_setting(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"KINGDOM_SQS_QUEUE_URL": QUEUE, "KINGDOM_POLLER_WAIT_SECONDS": "60"}

    assert poller.run(environ) == 2
    assert "KINGDOM_POLLER_WAIT_SECONDS" in capsys.readouterr().err


def test_redrive_needs_a_queue(capsys: pytest.CaptureFixture[str]) -> None:
    assert redrive.run([], {}) == 2
    assert "KINGDOM_SQS_QUEUE_URL is not set" in capsys.readouterr().err


@pytest.mark.parametrize("arguments", [["--max", "0"], ["--max", "many"], ["--nonsense"]])
def test_redrive_refuses_bad_arguments(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        redrive.run(arguments, {"KINGDOM_SQS_QUEUE_URL": QUEUE})

    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("kingdom redrive: ")
