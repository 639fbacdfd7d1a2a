"""lmkit's shared corpus: pinned hashes, a document-level split, tokenization and its cache."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "environments" / "_shared"))

from lmkit import corpus


@pytest.fixture(scope="module")
def splits() -> dict[str, list[str]]:
    return {split: corpus.documents(split) for split in corpus.SPLITS}


def test_shipped_files_match_their_pinned_hashes():
    corpus.verify()
    names = (corpus.DATA_DIR / "SHA256SUMS").read_text()
    assert "tokenizer.json" in names and "valid-00.txt.xz" in names and "train-00.txt.xz" in names
    for path in corpus.DATA_DIR.iterdir():
        assert path.stat().st_size < 9_000_000, path.name


def test_a_flipped_byte_names_the_file_and_both_hashes(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(corpus.DATA_DIR, copy)
    target = copy / "valid-00.txt.xz"
    expected = corpus._file_sha256(target)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    actual = corpus._file_sha256(target)
    with pytest.raises(corpus.CorpusError) as caught:
        corpus.verify(data_dir=copy)
    assert str(caught.value) == f"valid-00.txt.xz: sha256 is {actual}, expected {expected}"

    (copy / "tokenizer.json").unlink()
    target.write_bytes((corpus.DATA_DIR / "valid-00.txt.xz").read_bytes())
    with pytest.raises(corpus.CorpusError, match=r"^tokenizer\.json: missing$"):
        corpus.verify(data_dir=copy)


def test_the_split_is_document_level_and_disjoint(splits):
    train, valid = splits["train"], splits["valid"]
    assert len(train) > 5000 and len(valid) > 100
    assert 0.02 < len(valid) / (len(train) + len(valid)) < 0.06
    assert not set(train) & set(valid)
    for doc in train[:500] + valid:
        assert len(doc) >= 200 and "\x1e" not in doc and doc == doc.strip("\n").rstrip()


def test_special_tokens_and_vocabulary():
    tok = corpus.tokenizer()
    assert corpus.special_ids() == {"pad": 0, "mask": 1, "eos": 2}
    assert [tok.token_to_id(t) for t in ("[PAD]", "[MASK]", "[EOS]")] == [0, 1, 2]
    assert tok.get_vocab_size() == corpus.vocab_size() == 8192
    assert corpus.tokenizer_path().name == "tokenizer.json"


def test_token_ids_round_trip_a_document(tmp_path, splits):
    ids = corpus.token_ids("valid", tmp_path, limit_chars=1)  # exactly the first document
    assert ids.dtype == np.uint16
    assert ids[-1] == corpus.special_ids()["eos"] and corpus.special_ids()["eos"] not in ids[:-1]
    assert corpus.decode(ids[:-1]) == splits["valid"][0]
    assert len(ids) < len(splits["valid"][0]) / 2  # BPE compresses English text


def test_token_ids_are_cached_and_reused(tmp_path, monkeypatch):
    first = corpus.token_ids("train", tmp_path, limit_chars=20_000)
    (cached,) = tmp_path.glob("train-*.npy")
    assert list(tmp_path.iterdir()) == [cached]  # no temporary file left behind

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(corpus, "encode_documents", no_rebuild)
    monkeypatch.setattr(corpus, "verify", no_rebuild)
    assert np.array_equal(corpus.token_ids("train", tmp_path, limit_chars=20_000), first)
    with pytest.raises(AssertionError, match="reused"):  # another limit is another cache
        corpus.token_ids("train", tmp_path, limit_chars=40_000)
