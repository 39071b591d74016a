"""Prompts of a requested token length, each different from its first word on.

**Every prompt differs from the first token on** (its first words are drawn for it alone: :class:`Prompts`), so a
server's prefix cache (vLLM's automatic prefix caching, SGLang's radix cache) finds nothing to reuse and each TTFT
is a full prefill, as ``vllm bench serve --dataset-name random`` arranges with a random token offset per request.

**Length.** Three ways, best first:

1. ``--tokenizer PATH`` (a local tokenizer folder, read with transformers, never from a hub): words are added or
   removed until the model's tokenizer counts exactly the requested tokens (without special tokens, as vLLM's
   random dataset counts them).
2. Otherwise the server counts: two probe requests (:data:`PROBE_WORDS` words, one output token each) read
   ``usage.prompt_tokens``; the line through the two points gives tokens per word and the fixed overhead (a chat
   template's tokens), and the word count is solved for the requested length.
3. When the server reports no usage: one token per word, the documented approximation. The words are common
   lowercase English words, the kind a BPE vocabulary trained on English text holds as one token with its leading
   space (GPT-2, Llama 3, Qwen 2); this is not checked per tokenizer here, which is why the server's own count is
   used whenever it gives one.

Whatever the method, the report gives the mean prompt length the server itself counted (``usage``) where it says.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from profiler.errors import InvalidValueError

WORDS = tuple("""
time year people way day man thing woman life child world school state family student group country problem hand
part place case week company system program question work government number night point home water room mother area
money story fact month lot right study book eye job word business issue side kind head house service friend father
power hour game line end member law car city name team minute idea kid body back parent face others level office door
health person art war history party result change morning reason research girl guy moment air teacher force
education foot boy age policy music market sense nation plan college interest death course someone experience
food class field river stone light paper voice table window garden road winter summer color letter picture ship
green blue red black white small large long young old good new great high little early late real best free
open full clear strong happy simple close cold warm hard soft deep quick slow bright dark fresh clean dry quiet
make take come give find think tell call keep help start show hear play run move live turn bring write sit stand
lose pay meet learn lead watch follow stop speak read spend grow walk win offer build stay fall send cut reach
""".split())
PROBE_WORDS = (64, 256)  # word counts of the two probe prompts: the slope is read over 192 words


@dataclass(frozen=True)
class LengthFit:
    """prompt tokens = overhead + per_word x words, and how it was found."""

    per_word: float
    overhead: float
    method: str  # "tokenizer", "server usage" or "1 token per word (approximation)"

    def words_for(self, tokens: int) -> int:
        return max(1, round((tokens - self.overhead) / self.per_word))


APPROXIMATION = LengthFit(1.0, 0.0, "1 token per word (approximation: the server reported no usage)")


def fit_from_probes(counts: Sequence[tuple[int, int | None]]) -> LengthFit:
    """The length line from probe prompts: (words sent, prompt_tokens the server counted or None)."""
    known = [(w, t) for w, t in counts if t is not None]
    if len(known) < 2 or known[0][0] == known[1][0]:
        return APPROXIMATION
    (w1, t1), (w2, t2) = known[:2]
    per_word = (t2 - t1) / (w2 - w1)
    if not per_word > 0:
        return APPROXIMATION
    return LengthFit(per_word, t1 - per_word * w1, "server usage (two probe prompts)")


def words(n: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


HEAD_WORDS = 16  # words drawn anew for every prompt: one 16-token KV block (vLLM's default block size) differs


class Prompts(Sequence[str]):
    """`n` prompts of about `tokens` tokens, built when asked for (a run of 100,000 long prompts holds none of them):
    each is HEAD_WORDS words drawn for it alone (seeded by its index) followed by one shared body. A prefix cache
    keys every block by everything before it (vLLM's block hashes chain; SGLang's radix tree is a prefix tree), so
    a first block that differs leaves nothing to reuse, whatever follows.

    With a tokenizer's `count`, the body is trimmed so that the first prompt has exactly `tokens` tokens; the
    others differ only in their head's words, each one token for a common word, so they land within a token or
    two (the report gives the server's own count)."""

    def __init__(self, n: int, tokens: int, fit: LengthFit, seed: int = 0,
                 count: Callable[[str], int] | None = None) -> None:
        self._n, self._seed = n, seed
        total = fit.words_for(tokens)
        self._head = min(HEAD_WORDS, total)
        body = words(total - self._head, random.Random(seed))
        if count is not None:
            body = _exact(self._first_head(), body, tokens, count, random.Random(seed + 1))
        self._body = body

    def _first_head(self) -> str:
        return words(self._head, random.Random(f"{self._seed}:0"))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        head = words(self._head, random.Random(f"{self._seed}:{i % self._n}"))
        return f"{head} {self._body}" if self._body else head


def make_prompts(n: int, tokens: int, fit: LengthFit, seed: int = 0,
                 count: Callable[[str], int] | None = None) -> Prompts:
    """`n` prompts of about `tokens` tokens each (:class:`Prompts`; `count`: a tokenizer's exact count)."""
    return Prompts(n, tokens, fit, seed, count)


def _exact(head: str, body: str, tokens: int, count: Callable[[str], int], rng: random.Random) -> str:
    """The body with words added or dropped until `count` gives `head body` `tokens` tokens (or the closest below,
    when one word is several tokens)."""
    parts = body.split(" ") if body else []

    def n(ws: list[str]) -> int:
        return count(" ".join([head, *ws]))

    for _ in range(4 * tokens + 16):  # each step moves one word; bounded so an odd tokenizer cannot loop
        have = n(parts)
        if have == tokens:
            break
        if have < tokens:
            parts.append(rng.choice(WORDS))
        elif parts:
            parts.pop()
            if n(parts) < tokens:
                break
        else:
            break
    return " ".join(parts)


def tokenizer_counter(path: Path) -> Callable[[str], int]:
    """A token counter from a local tokenizer folder (transformers; never a hub download)."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise InvalidValueError("--tokenizer needs transformers: pip install 'inferplan[gpu]' (or pip install "
                                "transformers)") from None
    if not Path(path).exists():
        raise InvalidValueError(f"--tokenizer {path}: no such folder; give a local folder holding tokenizer.json "
                                "(or tokenizer_config.json and its vocabulary)")
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # transformers raises OSError/ValueError/KeyError for a folder it cannot read
        reason = " ".join(str(exc).split())[:160]
        raise InvalidValueError(f"--tokenizer {path}: cannot load a tokenizer from it ({reason})") from None
    return lambda text: len(tok.encode(text, add_special_tokens=False))
