"""lmkit: the material and small-model toolkit that Baseliner's language-model task families share.

It ships an offline English corpus (and its BPE tokenizer) built only from what the package
registries serve, pinned by sha256 in `data/SHA256SUMS`, so every family trains and scores on the
same bytes with no network. Families reach it through a relative symlink
`environments/<family>/lmkit -> ../_shared/lmkit` and `from lmkit import corpus`.

Importing the package needs neither torch nor tokenizers; `lmkit.corpus` needs numpy and, to
tokenize, `tokenizers`.
"""
