"""Word lists -> vocabulary -> (context, next character) examples, split as the lecture splits them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from initscope.core.errors import DataError

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "names.txt"
MAX_FILE_BYTES = 50 * 1024 * 1024
MIN_WORDS = 10
MAX_CHARS = 256  # distinct characters, '.' excluded
END = "."  # token 0: start and end of every word


def default_data_path() -> Path:
    """The shipped names.txt (repository root in a checkout, else the installed copy)."""
    if DEFAULT_DATA.is_file():
        return DEFAULT_DATA
    packaged = Path(__file__).resolve().parents[1] / "resources" / "names.txt"
    return packaged if packaged.is_file() else DEFAULT_DATA


def load_words(path: str | Path) -> list[str]:
    """Read a UTF-8 word list: one word per line, whitespace stripped, blank lines skipped."""
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise DataError(f"{name}: no such file")
    if p.is_dir():
        raise DataError(f"{name}: is a directory, not a word list")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(f"{name}: file is {size / 1e6:.0f} MB; word lists are limited to {MAX_FILE_BYTES // 2**20} MB")
        raw = p.read_bytes()
    except OSError as e:
        raise DataError(f"{name}: cannot read ({e.strerror or e})") from None
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
    if len(words) < MIN_WORDS:
        raise DataError(f"{name}: only {len(words)} words; at least {MIN_WORDS} are needed to make train/val/test splits")
    n_chars = len(set("".join(words)))
    if n_chars > MAX_CHARS:
        raise DataError(f"{name}: {n_chars} distinct characters; at most {MAX_CHARS} are supported")
    return words


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


def build_examples(words: list[str], block_size: int, stoi: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each word gives len(word)+1 examples: the last block_size tokens -> the next one."""
    xs: list[list[int]] = []
    ys: list[int] = []
    for w in words:
        context = [0] * block_size
        for ch in w + END:
            ix = stoi[ch]
            xs.append(context)
            ys.append(ix)
            context = context[1:] + [ix]
    x = torch.tensor(xs, dtype=torch.long).reshape(len(xs), block_size)
    return x, torch.tensor(ys, dtype=torch.long)


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
