"""Calls to any OpenAI-compatible chat endpoint: validated JSON output, bounded concurrency, retries with
backoff (the openai client's own), a token budget, and every valid response cached in DuckDB as it arrives."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from curate.errors import CurateError
from curate.store import Workspace

PROMPT_VERSION = "arhn-v1"  # part of every cache key: changing a prompt must not reuse old answers


class LLMSettings(BaseModel):
    """Where and how to call the model. The key itself is never stored: only the name of its variable."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    model: str = Field("gpt-4o-mini", description="model name the endpoint serves")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    concurrency: int = Field(8, ge=1, le=256, description="requests in flight at once")
    max_retries: int = Field(4, ge=0, description="retries on 429, 5xx, timeouts and dropped connections")
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    max_tokens: int = Field(256, ge=1, description="completion tokens per request")
    json_mode: bool = Field(True, description="ask for response_format json_object (vLLM, Ollama, llama.cpp, "
                            "OpenAI support it)")
    budget_tokens: int | None = Field(None, ge=1, description="refuse to start, and stop, beyond this many tokens")
    usd_per_million_tokens: float | None = Field(None, ge=0, description="price, for the cost estimate")


@dataclass
class Call:
    """One request: its messages and the validator that turns the reply into a value (or raises ValueError)."""

    item: Any
    messages: list[dict[str, str]]
    validate: Callable[[str], Any]

    def key(self, settings: LLMSettings) -> str:
        """Cache key: model, prompt version, sampling settings and the exact messages."""
        blob = json.dumps({"v": PROMPT_VERSION, "model": settings.model, "max_tokens": settings.max_tokens,
                           "json": settings.json_mode, "messages": self.messages}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def estimated_tokens(self, settings: LLMSettings) -> int:
        """Rough prompt + completion tokens (4 characters a token)."""
        return sum(len(m["content"]) for m in self.messages) // 4 + 8 * len(self.messages) + settings.max_tokens


@dataclass
class Outcome:
    """What came back for one call: a validated value, or why not."""

    item: Any
    value: Any = None
    status: str = "ok"  # ok | cached | invalid | failed
    detail: str = ""


@dataclass
class Tally:
    """Counts per status and tokens spent, for the run summary."""

    counts: dict[str, int] = field(default_factory=dict)
    tokens: int = 0

    def add(self, status: str) -> None:
        """Count one outcome."""
        self.counts[status] = self.counts.get(status, 0) + 1


class LLM:
    """A cached, concurrent JSON caller over the openai client."""

    def __init__(self, ws: Workspace, settings: LLMSettings) -> None:
        self.ws, self.settings = ws, settings
        self.lock = threading.Lock()
        self.tally = Tally()
        self._client = None

    # -- cache ------------------------------------------------------------
    def cached(self, calls: Iterable[Call]) -> dict[str, str]:
        """Cached reply text by key for the calls that have one."""
        keys = sorted({c.key(self.settings) for c in calls})
        if not keys:
            return {}
        with self.lock:
            rows = self.ws.con.execute(
                "SELECT key, json_extract_string(response, '$.content') FROM llm_cache "
                "WHERE model = ? AND key IN (SELECT unnest(?::VARCHAR[]))", [self.settings.model, keys]).fetchall()
        return dict(rows)

    def _store(self, key: str, call: Call, content: str, usage: int) -> None:
        with self.lock:
            # One small autocommitted write per answer: a crash loses nothing already paid for. A refused
            # older answer under the same key is replaced, so lookups never see two.
            self.ws.con.execute("DELETE FROM llm_cache WHERE key = ? AND model = ?", [key, self.settings.model])
            self.ws.con.execute(
                "INSERT INTO llm_cache (key, model, request, response) VALUES (?, ?, ?, ?)",
                [key, self.settings.model, json.dumps({"messages": call.messages}),
                 json.dumps({"content": content, "tokens": usage})])

    # -- planning ---------------------------------------------------------
    def estimate(self, calls: list[Call]) -> dict[str, Any]:
        """Requests, cache hits and estimated tokens/cost of the calls not yet cached."""
        hits = self.cached(calls)
        todo = [c for c in calls if c.key(self.settings) not in hits]
        tokens = sum(c.estimated_tokens(self.settings) for c in todo)
        price = self.settings.usd_per_million_tokens
        return {"requests": len(calls), "cached": len(calls) - len(todo), "to_send": len(todo),
                "estimated_tokens": tokens, "estimated_usd": None if price is None else round(tokens * price / 1e6, 4)}

    def check_budget(self, calls: list[Call]) -> None:
        """Refuse to start when the estimate exceeds the budget."""
        est = self.estimate(calls)
        if self.settings.budget_tokens is not None and est["estimated_tokens"] > self.settings.budget_tokens:
            raise CurateError(f"estimated {est['estimated_tokens']} tokens for {est['to_send']} requests exceeds "
                              f"budget_tokens={self.settings.budget_tokens}; raise it or narrow the scope "
                              f"(see --dry-run)")

    # -- calling ----------------------------------------------------------
    def client(self):
        """The openai client, built once; a missing endpoint or key is a clear error before any request."""
        if self._client is None:
            from openai import OpenAI

            base_url = self.settings.base_url or os.environ.get("OPENAI_BASE_URL")
            key = os.environ.get(self.settings.api_key_env)
            if not base_url and not key:
                raise CurateError(f"no LLM endpoint: set base_url (or $OPENAI_BASE_URL) and ${self.settings.api_key_env}")
            # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
            self._client = OpenAI(base_url=base_url, api_key=key or "not-needed", timeout=self.settings.timeout,
                                  max_retries=self.settings.max_retries)
        return self._client

    def _request(self, call: Call) -> tuple[str, int]:
        kwargs: dict[str, Any] = {"model": self.settings.model, "messages": call.messages,
                                  "max_tokens": self.settings.max_tokens, "temperature": 0}
        if self.settings.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        resp = self.client().chat.completions.create(**kwargs)
        content = resp.choices[0].message.content if resp.choices else None
        usage = resp.usage.total_tokens if getattr(resp, "usage", None) else 0
        return content or "", int(usage or 0)

    def one(self, call: Call, cache: dict[str, str] | None = None) -> Outcome:
        """Answer one call from the cache or the endpoint, validated; fatal endpoint errors raise CurateError."""
        key = call.key(self.settings)
        hit = (cache or {}).get(key)
        if hit is None:
            hit = self.cached([call]).get(key)
        if hit is not None:
            try:
                return Outcome(call.item, call.validate(hit), "cached")
            except ValueError:
                pass  # a cached answer the current validator refuses is asked again
        if self.settings.budget_tokens is not None and self.tally.tokens >= self.settings.budget_tokens:
            return Outcome(call.item, None, "over_budget", "token budget spent")
        for attempt in range(self.settings.max_retries + 1):
            try:
                content, usage = self._request(call)
                break
            except Exception as exc:  # noqa: BLE001 - sorted into fatal (raise) and per-item (count) below
                fatal = _fatal(exc)
                if fatal:
                    raise CurateError(fatal) from None
                # The client retries 429/5xx/timeouts itself; a garbled 200 body it does not, so retry it here.
                if not _garbled(exc) or attempt == self.settings.max_retries:
                    return Outcome(call.item, None, "failed", f"{type(exc).__name__}: {str(exc)[:200]}")
                time.sleep(min(8.0, 0.25 * 2**attempt))
        with self.lock:
            self.tally.tokens += usage or call.estimated_tokens(self.settings)
        try:
            value = call.validate(content)
        except ValueError as exc:
            return Outcome(call.item, None, "invalid", str(exc)[:200])
        self._store(key, call, content, usage)
        return Outcome(call.item, value, "ok")

    def map(self, jobs: list[Any], work: Callable[[Any], Any], label: str) -> Iterator[Any]:
        """Run work(job) for every job with bounded concurrency, yielding results as they finish.

        A fatal endpoint error (unreachable, wrong key, unknown model) cancels what has not started and is
        raised once; everything answered so far is already cached."""
        from curate.progress import progress

        with progress(label, total=len(jobs), unit="item") as bar, \
                ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            pending: set[Future] = {pool.submit(work, j) for j in jobs}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        bar.update(1)
                        yield fut.result()
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise


def _garbled(exc: Exception) -> bool:
    """A response body that did not parse (worth another try)."""
    import openai

    return isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError))


def _fatal(exc: Exception) -> str | None:
    """One clear message for errors no retry will fix; None for per-item failures."""
    import openai

    if isinstance(exc, openai.AuthenticationError):
        return "the LLM endpoint refused the API key (401); check the key variable"
    if isinstance(exc, openai.PermissionDeniedError):
        return "the LLM endpoint denied access (403)"
    if isinstance(exc, openai.NotFoundError):
        return f"the LLM endpoint has no such model or path (404): {str(exc)[:200]}"
    if isinstance(exc, openai.APITimeoutError):
        return None  # one slow item, already retried: counted, the run goes on
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach the LLM endpoint ({type(exc).__name__}) after retries; is the server up?"
    return None
