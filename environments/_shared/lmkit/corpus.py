"""The shared corpus at run time: verify its hashes, read its documents, tokenize it (cached).

The data files are built once by `environments/_shared/build_corpus.py`; see `data/SOURCES.md`.
A family calls `verify()` in its install step, so a corpus or tokenizer whose bytes differ from
the pinned hashes stops the install with the file's name and both hashes.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

DATA_DIR = Path(__file__).resolve().parent / "data"
SEPARATOR = "\n\x1e\n"  # every document is followed by a line holding only ASCII RS (0x1e)
SPLITS = ("train", "valid")
SPECIAL = {"pad": 0, "mask": 1, "eos": 2}  # [PAD], [MASK], [EOS]
VOCAB_SIZE = 8192


class CorpusError(Exception):
    """The shipped corpus is missing or altered (a family refuses to install on this)."""


def _sums(data_dir: Path) -> dict[str, str]:
    path = data_dir / "SHA256SUMS"
    if not path.is_file():
        raise CorpusError(f"SHA256SUMS: missing in {data_dir}")
    sums = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise CorpusError(f"SHA256SUMS: malformed line {line!r}")
        sums[name] = digest
    return sums


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(data_dir: Path | None = None) -> None:
    """Check every file that SHA256SUMS lists exists and has its pinned hash."""
    data_dir = data_dir or DATA_DIR
    for name, expected in _sums(data_dir).items():
        path = data_dir / name
        if not path.is_file():
            raise CorpusError(f"{name}: missing")
        actual = _file_sha256(path)
        if actual != expected:
            raise CorpusError(f"{name}: sha256 is {actual}, expected {expected}")


def _split_files(split: str, data_dir: Path) -> list[Path]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    files = sorted(name for name in _sums(data_dir) if name.startswith(f"{split}-"))
    return [data_dir / name for name in files]


def documents(split: str, data_dir: Path | None = None) -> list[str]:
    """The split's documents, in their stored (fixed) order."""
    docs: list[str] = []
    for path in _split_files(split, data_dir or DATA_DIR):
        text = lzma.decompress(path.read_bytes()).decode("utf-8")
        docs.extend(text.split(SEPARATOR)[:-1])
    return docs


def vocab_size() -> int:
    return VOCAB_SIZE


def special_ids() -> dict[str, int]:
    return dict(SPECIAL)


def tokenizer_path(data_dir: Path | None = None) -> Path:
    return (data_dir or DATA_DIR) / "tokenizer.json"


@cache
def _tokenizer(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def tokenizer(data_dir: Path | None = None) -> Tokenizer:
    """The corpus's byte-level BPE tokenizer (`tokenizers.Tokenizer`)."""
    return _tokenizer(tokenizer_path(data_dir))


def _prefix(docs: list[str], limit_chars: int | None) -> list[str]:
    """The shortest leading run of documents holding at least `limit_chars` characters."""
    if limit_chars is None:
        return docs
    kept, total = [], 0
    for doc in docs:
        if total >= limit_chars:
            break
        kept.append(doc)
        total += len(doc)
    return kept


def cache_key(split: str, limit_chars: int | None = None, data_dir: Path | None = None) -> str:
    """Short hash naming a token cache: the pinned corpus and tokenizer, the split, the limit."""
    data_dir = data_dir or DATA_DIR
    sums = (data_dir / "SHA256SUMS").read_bytes()
    return hashlib.sha256(sums + f"|{split}|{limit_chars}".encode()).hexdigest()[:16]


def token_ids(
    split: str,
    cache_dir: Path,
    limit_chars: int | None = None,
    data_dir: Path | None = None,
) -> np.ndarray:
    """The split's documents tokenized, each followed by [EOS], concatenated (uint16).

    Cached as `cache_dir/<split>-<key>.npy` (written atomically); the corpus is verified before
    a cache is built. `limit_chars` keeps only a deterministic prefix of the documents.
    """
    data_dir = data_dir or DATA_DIR
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{split}-{cache_key(split, limit_chars, data_dir)}.npy"
    if path.is_file():
        return np.load(path)
    verify(data_dir)
    docs = _prefix(documents(split, data_dir), limit_chars)
    ids = encode_documents(docs, data_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, ids)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ids


def encode_documents(docs: Iterable[str], data_dir: Path | None = None) -> np.ndarray:
    """Tokenize documents, each followed by [EOS], into one uint16 array."""
    tok = tokenizer(data_dir)
    parts = [
        np.append(np.asarray(e.ids, dtype=np.uint16), np.uint16(SPECIAL["eos"]))
        for e in tok.encode_batch(list(docs), add_special_tokens=False)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)


def decode(ids: Iterable[int], data_dir: Path | None = None) -> str:
    """Text for people reading samples (special tokens are kept visible)."""
    return tokenizer(data_dir).decode([int(i) for i in ids], skip_special_tokens=False)
