#!/usr/bin/env python3
"""Builds oxnas's embedded language-model corpus: books of the King James Bible (1611, public domain)
turned into the word-level Penn Treebank form that `--space darts-rnn` reads.

    bible -l0 "Gen1:1-Rev22:21" > kjv.txt          # Debian packages bible-kjv and bible-kjv-text
    python3 scripts/make-text-corpus.py kjv.txt crates/core/assets/kjv-ptb

The PTB form: one sentence per line, lower case, no punctuation, numbers as `N`, and words outside the
vocabulary as `<unk>`; the reader appends `<eos>` to each line. The vocabulary is every training word
seen at least MIN_COUNT times, at most MAX_VOCAB of them, so that (as in PTB) every word of the
validation and test files is in the training vocabulary.

Splits are whole books, so validation and test are text the model never saw:
train: Genesis, Exodus, Joshua, Judges, Matthew, Luke, John, Acts; valid: Mark;
test: Ruth, Esther, Jonah, Daniel. Output files are gzip with a zero timestamp, so reruns are
byte-identical.
"""
import collections
import gzip
import os
import re
import sys

TRAIN = ["Genesis", "Exodus", "Joshua", "Judges", "Matthew", "Luke", "John", "Acts"]
VALID = ["Mark"]
TEST = ["Ruth", "Esther", "Jonah", "Daniel"]
MIN_COUNT = 3
MAX_VOCAB = 5000


def read_books(path):
    """{book: [verse text]} from `bible -l0` output: a 'Book N' heading per chapter, '  V text' verses."""
    books, book = collections.OrderedDict(), None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        heading = re.match(r"^(\S.*?) (\d+)$", line)
        if heading:
            book = heading.group(1)
            books.setdefault(book, [])
            continue
        verse = re.match(r"^\s*(\d+) (.*)$", line)
        if verse:
            books[book].append(verse.group(2))
        else:
            books[book][-1] += " " + line.strip()
    return books


def sentences(verses):
    """Lower-case word lists, one per sentence (split at . ? ! ; :), punctuation dropped, numbers as N."""
    out = []
    for text in verses:
        for part in re.split(r"[.?!;:]", text.lower()):
            words = re.findall(r"[a-z0-9']+", part.replace("'s ", " 's ").replace("' ", " "))
            words = ["N" if w.isdigit() else w.strip("'") or w for w in words]
            if words:
                out.append(words)
    return out


def main(src, out_dir):
    books = read_books(src)
    split = {name: sum((sentences(books[b]) for b in bs), []) for name, bs in
             [("train", TRAIN), ("valid", VALID), ("test", TEST)]}
    counts = collections.Counter(w for s in split["train"] for w in s)
    vocab = {w for w, c in counts.most_common(MAX_VOCAB) if c >= MIN_COUNT}
    os.makedirs(out_dir, exist_ok=True)
    for name, sents in split.items():
        lines = [" ".join(w if w in vocab else "<unk>" for w in s) for s in sents]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        with open(os.path.join(out_dir, "ptb.%s.txt.gz" % name), "wb") as f:
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
                gz.write(data)
        tokens = sum(len(s) + 1 for s in sents)
        unk = sum(1 for s in sents for w in s if w not in vocab)
        print("%s: %d sentences, %d tokens with <eos>, %.1f%% <unk>" % (name, len(sents), tokens, 100.0 * unk / tokens))
    print("vocabulary: %d words + <unk> + <eos>" % len(vocab))


if __name__ == "__main__":
    main(*sys.argv[1:3])
