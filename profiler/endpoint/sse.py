"""Server-sent events, as OpenAI-compatible servers stream them, and what one streamed response held.

The client stamps each event the moment its bytes arrive and parses it only after the response ends
(:func:`tally`), so a JSON decode never sits between a token's arrival and its timestamp: with hundreds of streams
on one event loop, parsing in the hot path would delay the next stream's stamp (benchmarks/endpoint_overhead.py).

Framing follows the WHATWG "server-sent events" parsing rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation): lines end in LF, CRLF
or CR; ``data:`` lines (one optional space after the colon) make the event's data, joined by LF; a blank line
dispatches it; lines starting with ``:`` are comments (keep-alives). vLLM, SGLang, TGI and trtllm-serve send one
``data: {json}`` event per chunk and end with ``data: [DONE]``.

What counts as a token (the conventions of ``vllm bench serve``, vllm/benchmarks/lib/endpoint_request_func.py, and
guidellm's OpenAI backend, so numbers compare): a chunk whose first choice carries generated text (``text`` for
/v1/completions, ``delta.content`` or ``delta.reasoning_content`` for /v1/chat/completions). Its arrival is the
first token (TTFT) or the end of one inter-token gap (ITL). A chat stream's first chunk with only
``delta.role`` is not a token. A chunk may hold several tokens (speculative decoding, or the server coalescing):
its gap is one ITL sample, as in vLLM's ITL; the token count comes from the final ``usage`` chunk
(``stream_options.include_usage``), else one per text chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DONE = "[DONE]"


class SseDecoder:
    """Incremental SSE framing: :meth:`feed` bytes as they arrive, get back the data of each complete event."""

    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        buf = self._buffer + chunk
        if b"\r" in buf:  # CRLF and bare CR end lines too; a CR at the very end may be the first half of CRLF
            keep_cr = buf.endswith(b"\r")
            body = buf[:-1] if keep_cr else buf
            buf = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if keep_cr else b"")
        *lines, self._buffer = buf.split(b"\n")
        events = []
        for raw in lines:
            if not raw:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
                continue
            line = raw.decode("utf-8", errors="replace")
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if name == "data":
                self._data.append(value[1:] if value.startswith(" ") else value)
        return events

    def close(self) -> list[str]:
        """Events left when the stream ends: a last ``data:`` line without its blank line still counts (servers
        that end the body straight after ``data: [DONE]``)."""
        return self.feed(b"\n\n") if self._buffer or self._data else []


@dataclass(frozen=True)
class Tally:
    """What one response's events held, for :mod:`profiler.endpoint.client`'s record."""

    token_times: tuple[float, ...]  # arrival of every chunk that carried text (s, the client's clock)
    text_chunks: int
    done: bool  # the stream ended with [DONE] or a chunk with a finish_reason
    finish_reason: str | None
    prompt_tokens: int | None  # from usage, when the server sent it
    completion_tokens: int | None
    error: str | None  # an error object the server streamed, or the first malformed event
    error_class: str | None  # "server error event" or "malformed stream"
    server_model: str | None


def _text(choice: Any) -> str:
    if not isinstance(choice, dict):
        return ""
    if isinstance(choice.get("text"), str):
        return choice["text"]
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return "".join(v for k in ("content", "reasoning_content", "reasoning") if isinstance(v := delta.get(k), str))
    return ""


def _count(usage: Any, key: str) -> int | None:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def tally(events: list[tuple[float, str]]) -> Tally:
    """Parse the (arrival time, data) events of one response (module docstring: what is a token)."""
    times: list[float] = []
    done, finish, prompt, completion, error, error_class, model = False, None, None, None, None, None, None
    for t, data in events:
        if data.strip() == DONE:
            done = True
            continue
        try:
            obj = json.loads(data)
        except ValueError:
            if error is None:
                error, error_class = f"an event is not JSON: {data[:60]!r}", "malformed stream"
            continue
        if not isinstance(obj, dict):
            if error is None:
                error, error_class = f"an event is not a JSON object: {data[:60]!r}", "malformed stream"
            continue
        if "error" in obj and not obj.get("choices"):
            err = obj["error"]
            message = err.get("message") if isinstance(err, dict) else err
            error, error_class = f"the server streamed an error: {str(message)[:120]}", "server error event"
            continue
        model = model or (obj.get("model") if isinstance(obj.get("model"), str) else None)
        choices = obj.get("choices")
        if isinstance(choices, list) and choices:
            if _text(choices[0]):
                times.append(t)
            reason = choices[0].get("finish_reason") if isinstance(choices[0], dict) else None
            if reason:
                finish, done = str(reason), True
        usage = obj.get("usage")
        if isinstance(usage, dict):
            prompt = _count(usage, "prompt_tokens") if _count(usage, "prompt_tokens") is not None else prompt
            completion = _count(usage, "completion_tokens") if _count(usage, "completion_tokens") is not None \
                else completion
    return Tally(tuple(times), len(times), done, finish, prompt, completion, error, error_class, model)
