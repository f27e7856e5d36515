"""A small GraphQL-over-HTTP client for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Result:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.body.get("errors") or []]


@dataclass
class GraphQLClient:
    http: httpx.Client

    def execute(
        self, query: str, variables: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> Result:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = self.http.post(
            "/graphql", json={"query": query, "variables": dict(variables or {})}, headers=headers
        )
        return Result(response.status_code, response.json())

    def ok(
        self, query: str, variables: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        """The operation's data, asserting it ran without any error."""
        result = self.execute(query, variables, token=token)
        assert result.status == 200, result.body
        assert not result.codes, result.body
        return result.data


LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"


def access_token(http: httpx.Client, email: str, password: str) -> str:
    """Log in over HTTP and return the access token (the login must succeed)."""
    response = http.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"input": {"email": email, "password": password}}},
    )
    token: str = response.json()["data"]["login"]["accessToken"]
    return token


REGISTER = "mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }"


def register_traced(base_url: str, email: str, traceparent: str) -> httpx.Response:
    """Register ``email`` as a client in the trace ``traceparent`` would; the response
    (which must be a 200 without errors: its headers carry the request's trace and id)."""
    response = httpx.post(
        f"{base_url}/graphql",
        json={
            "query": REGISTER,
            "variables": {
                "input": {
                    "email": email,
                    "displayName": "Traced",
                    "password": "a long enough password",
                }
            },
        },
        headers={"traceparent": traceparent},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return response
