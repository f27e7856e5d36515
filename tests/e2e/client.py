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
