"""A load generator on threads and http.client (the standard library: no client package to add): a
planned list of requests fired from many threads at once, each on a connection of its own, every
outcome recorded for the test to judge."""

from __future__ import annotations

import collections
import http.client
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Long enough that a request queued behind hundreds of others on a busy machine is still answered: a
# timeout here is a failure of the server, not of a slow test machine.
REQUEST_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class PlannedRequest:
    """One request and its correct answers: ``accept`` maps each acceptable status to the check of
    its body (a whole page, a JSON list, the API's error body)."""

    name: str
    path: str
    accept: dict[int, Callable[[bytes], bool]]
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    body: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    request: PlannedRequest
    status: int | None
    seconds: float
    error: str = ""
    body_ok: bool = False
    retry_after: str | None = None

    @property
    def correct(self) -> bool:
        return not self.error and self.status in self.request.accept and self.body_ok


@dataclass
class LoadReport:
    outcomes: list[Outcome]
    wall_seconds: float

    @property
    def rate(self) -> float:
        return len(self.outcomes) / self.wall_seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(outcome.seconds for outcome in self.outcomes)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]

    @property
    def server_errors(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status and outcome.status >= 500]

    @property
    def connection_errors(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.error]

    @property
    def incorrect(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.correct]

    def summary(self) -> str:
        by_name = collections.Counter(outcome.request.name for outcome in self.outcomes)
        return (
            f"{len(self.outcomes)} requests ({len(by_name)} kinds) in {self.wall_seconds:.1f} s: "
            f"{self.rate:.1f} requests/s, p50 {self.percentile(0.5) * 1000:.0f} ms, "
            f"p95 {self.percentile(0.95) * 1000:.0f} ms, max {self.percentile(1.0) * 1000:.0f} ms"
        )

    def describe_failures(self, limit: int = 10) -> str:
        counts = collections.Counter(
            (outcome.request.name, outcome.status, outcome.error or ("" if outcome.body_ok else "bad body"))
            for outcome in self.incorrect
        )
        return "; ".join(
            f"{count} x {name}: status {status} {problem}".strip()
            for (name, status, problem), count in counts.most_common(limit)
        )


def send(base_url: str, request: PlannedRequest) -> Outcome:
    """One request on a new connection (closed after the answer, so every request of a load is also a
    connection the server must accept)."""
    url = urlsplit(base_url)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request(
            request.method,
            request.path,
            body=request.body,
            headers={"Connection": "close", **request.headers},
        )
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        return Outcome(request, None, time.perf_counter() - started, error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()
    check = request.accept.get(response.status)
    return Outcome(
        request,
        response.status,
        time.perf_counter() - started,
        body_ok=bool(check and check(body)),
        retry_after=response.getheader("Retry-After"),
    )


def fetch_json(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, object]:
    """GET ``path`` and its status and decoded JSON body, for checks after a load."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def run_load(base_url: str, requests: Iterable[PlannedRequest], *, concurrency: int) -> LoadReport:
    """Every request of ``requests``, ``concurrency`` at a time: the threads start together (a
    barrier), then each takes the next request as soon as its previous one is answered."""
    pending = collections.deque(requests)
    outcomes: list[Outcome] = []
    record = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def client() -> None:
        start.wait()
        while True:
            try:
                request = pending.popleft()
            except IndexError:
                return
            outcome = send(base_url, request)
            with record:
                outcomes.append(outcome)

    threads = [threading.Thread(target=client, name=f"load-client-{index}") for index in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return LoadReport(outcomes=outcomes, wall_seconds=time.perf_counter() - started)


def is_page(body: bytes) -> bool:
    """A whole console page: rendering did not stop half-way."""
    return body.rstrip().endswith(b"</html>")


def is_json_list(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body).get("results"), list)
    except (ValueError, AttributeError):
        return False


def is_api_error(code: str) -> Callable[[bytes], bool]:
    """The API's documented error body (defender/api_contract.py) with this ``code``."""

    def check(body: bytes) -> bool:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and data.get("code") == code and bool(data.get("detail"))

    return check
