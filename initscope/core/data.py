"""Word lists -> vocabulary -> (context, next character) examples, split as the lecture splits them."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from initscope.core.assets import names_path
from initscope.core.errors import DataError
from initscope.core.files import read_capped

if TYPE_CHECKING:  # torch is imported where the examples are built: checking a word list needs none
    import torch

MAX_FILE_BYTES = 50 * 1024 * 1024
MIN_WORDS = 10
MAX_CHARS = 256  # distinct characters, '.' excluded
# examples (characters + one end token per word): 17 x names.txt; bounds the tensors before they are built
MAX_EXAMPLES = 4_000_000
END = "."  # token 0: start and end of every word


def default_data_path() -> Path:
    """The shipped names.txt (the installed package data, else the checkout's; see core/assets.py)."""
    return names_path()


def load_words(path: str | Path) -> list[str]:
    """Read a UTF-8 word list: one word per line, whitespace stripped, blank lines skipped.

    Regular files only (a FIFO would block, a device never ends), at most MAX_FILE_BYTES actually read and
    MAX_EXAMPLES examples; a UTF-8 byte-order mark is dropped (it is not a character of the vocabulary)."""
    name = str(path)
    raw = read_capped(path, MAX_FILE_BYTES, DataError, "word list")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    n_examples = _count_examples(raw)
    if n_examples > MAX_EXAMPLES:  # counted on the bytes: 16 M short words never become 16 M Python strings
        raise DataError(f"{name}: about {n_examples:,} examples; at most {MAX_EXAMPLES:,} are supported")
    if not raw:
        raise DataError(f"{name}: file is empty")
    if b"\x00" in raw:
        raise DataError(f"{name}: looks like a binary file (contains NUL bytes), not a UTF-8 word list")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{name}: line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x})") from None
    words: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        word = line.strip()
        if not word:
            continue
        if END in word:
            raise DataError(f"{name}: line {lineno}: word {word[:40]!r} contains '{END}', which is reserved as the start/end token")
        if any(ch.isspace() for ch in word):
            raise DataError(f"{name}: line {lineno}: {word[:40]!r} holds whitespace; put one word per line")
        words.append(word)
    if not words:
        raise DataError(f"{name}: no words (only blank lines)")
    n_examples = sum(len(w) + 1 for w in words)
    if n_examples > MAX_EXAMPLES:
        raise DataError(f"{name}: {n_examples:,} examples ({len(words):,} words); at most {MAX_EXAMPLES:,} are supported")
    if len(words) < MIN_WORDS:
        raise DataError(f"{name}: only {len(words)} words; at least {MIN_WORDS} are needed to make train/val/test splits")
    n_chars = len(set("".join(words)))
    if n_chars > MAX_CHARS:
        raise DataError(f"{name}: {n_chars} distinct characters; at most {MAX_CHARS} are supported")
    return words


_ASCII_SPACE = np.frombuffer(b" \t\n\r\x0b\x0c", np.uint8)


def _count_examples(raw: bytes) -> int:
    """Characters + words of a UTF-8 word list, counted on its bytes (numpy, no strings): each word gives
    len(word) + 1 examples. Continuation bytes are not characters; only ASCII whitespace separates words."""
    if not raw:
        return 0
    b = np.frombuffer(raw, np.uint8)
    space = np.isin(b, _ASCII_SPACE)
    chars = int(np.count_nonzero(~space & ((b & 0xC0) != 0x80)))
    words = int(np.count_nonzero(space[:-1] & ~space[1:])) + int(not space[0])
    return chars + words


@dataclass(frozen=True)
class Vocab:
    """'.' is token 0; the other characters follow in sorted order (as in makemore)."""

    itos: tuple[str, ...]

    @classmethod
    def from_words(cls, words: list[str]) -> Vocab:
        return cls((END, *sorted(set("".join(words)))))

    @property
    def size(self) -> int:
        return len(self.itos)

    def stoi(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.itos)}

    def note(self) -> str:
        """"" for the lecture's vocabulary (a-z and '.'); else what is unusual in it, in one line: a word list
        like /usr/share/dict/words brings capitals, apostrophes and accents, and its uniform guess is not 3.30."""
        extra = [c for c in self.itos[1:] if not ("a" <= c <= "z")]
        if not extra:
            return ""
        groups = {"capitals": [c for c in extra if "A" <= c <= "Z"], "digits": [c for c in extra if c.isdigit()],
                  "accented or non-Latin letters": [c for c in extra if c.isalpha() and not c.isascii()]}
        plain = set(sum(groups.values(), []))
        others = [c for c in extra if c not in plain]
        parts = [f"{len(v)} {k}" for k, v in groups.items() if v]
        if others:
            shown = " ".join(repr(c)[1:-1] if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}"
                             for c in others[:8])
            parts.append(f"{len(others)} other symbol{'s' * (len(others) > 1)} ({shown}{' …' if len(others) > 8 else ''})")
        return (f"{self.size} tokens, not the lecture's 27: " + ", ".join(parts)
                + f"; a uniform guess is now ln {self.size} = {math.log(self.size):.2f}")


def build_examples(words: list[str], block_size: int, stoi: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each word gives len(word)+1 examples: the last block_size tokens -> the next one.

    Vectorised (the lecture's per-character loop, as windows over one token array): each word becomes
    block_size start tokens, its characters, and the end token; example j of a word is the window at j."""
    import torch

    if not words:
        return torch.zeros((0, block_size), dtype=torch.long), torch.zeros(0, dtype=torch.long)
    table = np.zeros(max(ord(c) for c in stoi) + 1, np.int64)
    for c, i in stoi.items():
        table[ord(c)] = i
    lens = np.fromiter((len(w) for w in words), np.int64, len(words))
    text = "".join(words)
    ids = table[np.frombuffer(text.encode("utf-32-le"), np.uint32)] if text else np.zeros(0, np.int64)
    seg = lens + block_size + 1  # each word's segment: padding, characters, end token
    seg_start = np.concatenate([[0], np.cumsum(seg)[:-1]])
    tokens = np.zeros(int(seg.sum()), np.int64)  # padding and end tokens are 0 ('.')
    char_pos = np.repeat(seg_start + block_size, lens) + (np.arange(len(ids)) - np.repeat(np.cumsum(lens) - lens, lens))
    tokens[char_pos] = ids
    n_ex = lens + 1
    starts = np.repeat(seg_start, n_ex) + (np.arange(int(n_ex.sum())) - np.repeat(np.cumsum(n_ex) - n_ex, n_ex))
    windows = np.lib.stride_tricks.sliding_window_view(tokens, block_size + 1)[starts]
    return torch.from_numpy(windows[:, :block_size].copy()), torch.from_numpy(windows[:, block_size].copy())


@dataclass
class Dataset:
    path: str
    words: list[str]
    vocab: Vocab
    block_size: int
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]  # "train" / "val" / "test" -> (X, Y)

    def counts(self) -> dict[str, int]:
        return {k: int(x.shape[0]) for k, (x, _) in self.splits.items()}

    def summary(self) -> str:
        c = self.counts()
        return (f"{len(self.words):,} words, vocabulary {self.vocab.size}, "
                f"{c['train']:,} / {c['val']:,} / {c['test']:,} train/val/test examples")


def make_dataset(words: list[str], block_size: int = 3, path: str = "") -> Dataset:
    """The lecture's split: random.seed(42); shuffle; 80% train, 10% val, 10% test (by word)."""
    if block_size < 1:
        raise DataError(f"block_size must be at least 1, got {block_size}")
    vocab = Vocab.from_words(words)
    stoi = vocab.stoi()
    shuffled = list(words)
    random.Random(42).shuffle(shuffled)  # same stream as random.seed(42); random.shuffle(...)
    n1, n2 = int(0.8 * len(shuffled)), int(0.9 * len(shuffled))
    parts = {"train": shuffled[:n1], "val": shuffled[n1:n2], "test": shuffled[n2:]}
    splits = {k: build_examples(ws, block_size, stoi) for k, ws in parts.items()}
    return Dataset(path=path, words=list(words), vocab=vocab, block_size=block_size, splits=splits)


def load_dataset(path: str | Path | None = None, block_size: int = 3) -> Dataset:
    p = default_data_path() if path is None else Path(path)
    return make_dataset(load_words(p), block_size, str(p))
