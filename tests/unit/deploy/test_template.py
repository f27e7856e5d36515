"""deploy/template.yaml is valid CloudFormation and keeps the properties the workers rely on.

cfn-lint checks the template against AWS's schemas in every region; it knows
SAM only loosely (a ``!Ref`` to nothing inside an ``AWS::Serverless::Function``
passes), so the references are checked here too, along with what matters to
the workers: partial batch failures, encryption at rest, the dead-letter
queue, and a visibility timeout long enough for a whole invocation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all  # type: ignore[import-untyped]
from cfnlint.decode import decode  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "deploy" / "template.yaml"
PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NoValue",
    "AWS::NotificationARNs",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, errors = decode(str(TEMPLATE))
    assert not errors, [str(error) for error in errors]
    assert isinstance(decoded, dict)
    return decoded


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_finds_no_error_or_warning() -> None:
    matches = lint_all(TEMPLATE.read_text(encoding="utf-8"))
    problems = [
        f"{m.rule.id} line {m.linenumber}: {m.message}"
        for m in matches
        if m.rule.severity in ("error", "warning")
    ]
    assert problems == []


def test_it_is_a_sam_template(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"


def test_every_reference_names_something(template: dict[str, Any]) -> None:
    names = set(template["Parameters"]) | set(template["Resources"]) | PSEUDO_PARAMETERS
    conditions = set(template["Conditions"])
    for kind, target in references(template["Resources"]) + references(template["Outputs"]):
        if kind == "Condition":
            assert target in conditions, f"unknown condition {target!r}"
        else:
            assert target in names, f"{kind} to unknown {target!r}"


def test_the_function_runs_the_pants_zip_on_python_311(template: dict[str, Any]) -> None:
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    properties = function["Properties"]
    # What `./pants package packages/workers:lambda` writes and the handler name it prints.
    assert properties["CodeUri"] == "../dist/packages.workers/lambda.zip"
    assert properties["Handler"] == "lambda_function.handler"
    assert properties["Runtime"] == "python3.11"
    assert properties["Architectures"] == ["x86_64"]
    assert "KINGDOM_DATABASE_URL" in properties["Environment"]["Variables"]
    assert template["Parameters"]["DatabaseUrl"]["NoEcho"] is True


def test_the_queue_reports_partial_batch_failures(template: dict[str, Any]) -> None:
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    (event,) = function["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "BatchSize" in event["Properties"]


def test_both_queues_are_encrypted(template: dict[str, Any]) -> None:
    queues = resources_of(template, "AWS::SQS::Queue")
    assert set(queues) == {"Queue", "DeadLetterQueue"}
    for name, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name


def test_failed_messages_go_to_the_dead_letter_queue(template: dict[str, Any]) -> None:
    policy = template["Resources"]["Queue"]["Properties"]["RedrivePolicy"]
    assert policy["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert policy["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert template["Parameters"]["MaxReceiveCount"]["Default"] == 5


def test_visibility_timeout_is_six_times_the_function_timeout(template: dict[str, Any]) -> None:
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    assert function["Properties"]["Timeout"] == {"Ref": "FunctionTimeout"}
    visibility = template["Resources"]["Queue"]["Properties"]["VisibilityTimeout"]
    mapping, key, attribute = visibility["Fn::FindInMap"]
    assert key == {"Ref": "FunctionTimeout"}
    table = template["Mappings"][mapping]
    timeouts = template["Parameters"]["FunctionTimeout"]["AllowedValues"]
    assert template["Parameters"]["FunctionTimeout"]["Default"] in timeouts
    for timeout in timeouts:
        seconds = table[str(timeout)][attribute]
        # AWS's guidance for SQS event sources; SQS allows at most 12 hours.
        assert 6 * timeout <= seconds <= 43_200, timeout


def test_the_function_may_touch_only_its_own_queue(template: dict[str, Any]) -> None:
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    # An explicit role: SAM's generated one would add a policy over every queue.
    assert function["Properties"]["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    statements = [
        statement
        for policy in template["Resources"]["FunctionRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    sqs = [s for s in statements if any(a.startswith("sqs:") for a in s["Action"])]
    assert sqs
    assert all(s["Resource"] == {"Fn::GetAtt": ["Queue", "Arn"]} for s in sqs)
    assert all(s["Resource"] != "*" for s in statements)


def test_outputs_give_what_the_relay_and_operators_need(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["QueueUrl"]["Value"] == {"Ref": "Queue"}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": "DeadLetterQueue"}
    assert outputs["FunctionArn"]["Value"] == {"Fn::GetAtt": ["Function", "Arn"]}


def references(node: Any) -> list[tuple[str, str]]:
    return list(_walk(node))


def _walk(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                yield "Ref", value
            elif key == "Fn::GetAtt":
                yield "GetAtt", value[0] if isinstance(value, list) else value.split(".")[0]
            elif key == "Fn::If":
                yield "Condition", value[0]
            elif key == "Condition" and isinstance(value, str):
                yield "Condition", value
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    yield "Sub", name.split(".")[0]
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)
