import random
import subprocess
import sys

import pytest
import torch

from initscope.core.data import Vocab, default_data_path, load_words, make_dataset
from initscope.core.errors import DataError


def lecture_splits(words, block_size=3):
    """The lecture's own cells, verbatim in spirit: global random.seed(42), shuffle, 80/10/10."""
    chars = sorted(list(set("".join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0

    def build(ws):
        X, Y = [], []
        for w in ws:
            context = [0] * block_size
            for ch in w + ".":
                ix = stoi[ch]
                X.append(context)
                Y.append(ix)
                context = context[1:] + [ix]
        return torch.tensor(X), torch.tensor(Y)

    words = list(words)
    state = random.getstate()
    random.seed(42)
    random.shuffle(words)
    random.setstate(state)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    return build(words[:n1]), build(words[n1:n2]), build(words[n2:])


def test_shipped_names_file_is_lowercase_names_most_common_first():
    words = load_words(default_data_path())
    assert 25_000 <= len(words) <= 35_000
    assert all(w.isascii() and w.isalpha() and w.islower() for w in words)
    assert len(set(words)) == len(words)
    assert words[:2] == ["emma", "liam"]  # SSA 2017: most common girl's and boy's names


def test_vocab_dot_first_then_sorted(names_data):
    assert names_data.vocab.itos[0] == "."
    assert list(names_data.vocab.itos[1:]) == sorted(set("".join(names_data.words)))
    assert names_data.vocab.size == 27


def test_splits_match_the_lecture_scheme_exactly(names_data):
    tr, va, te = lecture_splits(names_data.words)
    for (x, y), name in zip((tr, va, te), ("train", "val", "test")):
        ox, oy = names_data.splits[name]
        assert torch.equal(ox, x) and torch.equal(oy, y), name
    total = sum(len(w) + 1 for w in names_data.words)
    assert sum(names_data.counts().values()) == total


def test_block_size_changes_context(tmp_path):
    words = ["abc", "de"] * 10
    d = make_dataset(words, block_size=5)
    x, _ = d.splits["train"]
    assert x.shape[1] == 5
    assert Vocab.from_words(words).itos == (".", "a", "b", "c", "d", "e")


def test_whitespace_and_blank_lines(tmp_path):
    p = tmp_path / "w.txt"
    p.write_text("  anna \n\n\tbob\n" + "\n".join(f"x{'y' * i}" for i in range(10)) + "\n   \n", encoding="utf-8")
    words = load_words(p)
    assert words[:2] == ["anna", "bob"] and len(words) == 12


BAD = {
    "missing": (None, "no such file"),
    "directory": ("DIR", "is a directory"),
    "empty": (b"", "file is empty"),
    "blank": (b"\n  \n\t\n", "no words"),
    "binary": (b"abc\x00\x01\x02def\n" * 20, "binary"),
    "latin1": ("anna\n" * 3 + "jos\xe9\n" + "bob\n" * 10, "line 4: not UTF-8"),
    "few": ("a\nb\nc\n", "only 3 words"),
    "dot": ("anna\n" * 5 + "a.b\n" + "bob\n" * 10, "line 6"),
    "chars": ("\n".join(chr(0x4E00 + i) for i in range(300)), "300 distinct characters"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_gets_a_message_naming_the_file(tmp_path, case):
    content, expected = BAD[case]
    p = tmp_path / f"{case}.txt"
    if content == "DIR":
        p.mkdir()
    elif isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, str):
        p.write_bytes(content.encode("latin-1") if case == "latin1" else content.encode("utf-8"))
    with pytest.raises(DataError) as e:
        load_words(p)
    msg = str(e.value)
    assert str(p) in msg and expected in msg and "\n" not in msg


def test_oversized_file_rejected(tmp_path, monkeypatch):
    import initscope.core.data as data

    p = tmp_path / "big.txt"
    p.write_text("anna\n" * 1000)
    monkeypatch.setattr(data, "MAX_FILE_BYTES", 1000)
    with pytest.raises(DataError, match="limited to"):
        data.load_words(p)


@pytest.mark.parametrize("case", ["missing", "binary", "dot"])
def test_cli_bad_data_exits_2_with_one_line(tmp_path, case):
    content, expected = BAD[case]
    p = tmp_path / f"{case}.txt"
    if content is not None:
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = subprocess.run([sys.executable, "-m", "initscope", "run", "--steps", "0", "--data", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0] and str(p) in lines[0]


def test_examples_are_counted_on_the_bytes_exactly(tmp_path):
    """The pre-check that refuses a huge word list before making strings agrees with the real count."""
    from initscope.core.data import _count_examples

    for text in (default_data_path().read_text(), "  anna \n\n\tbob\r\nzoë\n日本語\n", "x", "\n\n"):
        words = text.split()
        assert _count_examples(text.encode()) == sum(len(w) + 1 for w in words)


def test_vectorised_examples_match_the_lecture_loop():
    from initscope.core.data import build_examples

    words = ["emma", "a", "zoë", "bob"]
    stoi = {c: i for i, c in enumerate(Vocab.from_words(words).itos)}
    for block in (1, 3, 8):
        xs, ys = [], []
        for w in words:
            ctx = [0] * block
            for ch in w + ".":
                xs.append(ctx)
                ys.append(stoi[ch])
                ctx = ctx[1:] + [stoi[ch]]
        x, y = build_examples(words, block, stoi)
        assert torch.equal(x, torch.tensor(xs)) and torch.equal(y, torch.tensor(ys))
