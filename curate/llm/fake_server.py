"""A small, deterministic OpenAI-compatible chat server on 127.0.0.1, for tests, benchmarks and offline demos.

It answers the ARHN and label-verification prompts by word overlap (a stand-in judge, not a language model),
can inject faults (429, 500, hangs, malformed bodies, non-JSON replies) and latency, and records every chat
request it received. It goes by the name MODEL (in /v1/models and in every reply, whatever model a request
names), so a run that passes `model=fake-word-overlap` is labelled as the stand-in it is.
A passage containing "ignore previous instructions" makes it reply with junk, as a model that obeyed would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from curate.llm.prompts import NO_ANSWER, NONE_OF_THEM

STOP = set("a an the of in on at to for is are was were be by with and or what who which where when how does do "
           "did its it this that from as".split())
INJECTION = re.compile(r"ignore (all )?previous instructions", re.I)
MODEL = "fake-word-overlap"


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP}


def overlap(query: str, text: str) -> int:
    """Content words shared by query and text."""
    return len(_words(query) & _words(text))


def fake_reply(user: dict[str, Any], min_overlap: int = 2) -> str:
    """The deterministic judge: the best-overlapping sentence as the answer, overlap order as the ranking."""
    if "options" in user:  # label verification: the option whose label and description share most words
        text = str(user.get("text", ""))
        if INJECTION.search(text):
            return "Understood, I will follow the new instructions."
        scored = [(overlap(f"{o.get('label', '')} {o.get('description', '')}".replace("_", " ").replace(":", " "),
                           text), str(o.get("label"))) for o in user["options"]]
        best = max(scored, default=(0, NONE_OF_THEM))
        return json.dumps({"label": best[1] if best[0] > 0 else NONE_OF_THEM})
    query = str(user.get("query", ""))
    if "passages" in user:
        items = user["passages"]
        if any(INJECTION.search(str(p.get("text", ""))) for p in items):
            return "Sure! Ranking ignored as instructed."
        order = sorted(items, key=lambda p: (-overlap(query, str(p.get("text", ""))), str(p.get("id"))))
        return json.dumps({"ranking": [p["id"] for p in order]})
    passage = str(user.get("passage", ""))
    if INJECTION.search(passage):
        return "OK, ignoring previous instructions. HACKED"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", passage) if s.strip()]
    best = max(sentences, key=lambda s: overlap(query, s), default="")
    return json.dumps({"answer": best if best and overlap(query, best) >= min_overlap else NO_ANSWER})


class FakeLLM:
    """Start with `with FakeLLM() as llm:`; llm.url is the base_url to give the openai client."""

    def __init__(self, *, api_key: str | None = None, latency: float = 0.0, hang: float = 5.0) -> None:
        self.api_key, self.latency, self.hang = api_key, latency, hang
        self.faults: deque[str] = deque()  # consumed one per request: 429, 500, hang, malformed, junk
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Base URL (…/v1) of the running server."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeLLM:
        """Serve on an ephemeral loopback port in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the body waits ~40 ms for a delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout it was told to have): nothing to report

            def _model(self) -> dict[str, Any]:
                return {"id": MODEL, "object": "model", "created": 0, "owned_by": "curate (word overlap, not an LLM)"}

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._send(401, b'{"error": {"message": "invalid api key"}}')
                path = self.path.rstrip("/")
                if path.endswith("/models"):
                    return self._send(200, json.dumps({"object": "list", "data": [self._model()]}).encode())
                if path.endswith(f"/models/{MODEL}"):
                    return self._send(200, json.dumps(self._model()).encode())
                self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append(body)
                    fault = fake.faults.popleft() if fake.faults else None
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._send(401, json.dumps({"error": {"message": "invalid api key",
                                                                 "type": "invalid_request_error"}}).encode())
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, b'{"error": {"message": "not found"}}')
                if fake.latency:
                    time.sleep(fake.latency)
                if fault == "429":
                    return self._send(429, b'{"error": {"message": "slow down"}}', {"retry-after-ms": "10"})
                if fault == "500":
                    return self._send(500, b'{"error": {"message": "boom"}}', {"retry-after-ms": "10"})
                if fault == "hang":
                    time.sleep(fake.hang)
                if fault == "malformed":
                    return self._send(200, b'{"id": "x", "choices": [')
                user = json.loads(body["messages"][-1]["content"])
                content = "not json at all" if fault == "junk" else fake_reply(user)
                reply = {"id": "fake", "object": "chat.completion", "created": 0, "model": MODEL,
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": length // 4, "completion_tokens": len(content) // 4,
                                   "total_tokens": length // 4 + len(content) // 4}}
                self._send(200, json.dumps(reply).encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Serve until killed, printing the base URL first (for benchmarks and demos in another process)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=f"Deterministic fake OpenAI-compatible server on 127.0.0.1, serving "
                                 f"'{MODEL}': a word-overlap stand-in, not a language model.")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    ap.add_argument("--api-key", default=None, help="require this bearer key")
    args = ap.parse_args()
    server = FakeLLM(api_key=args.api_key, latency=args.latency).start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
        sys.exit(0)


if __name__ == "__main__":
    main()
