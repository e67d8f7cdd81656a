#!/usr/bin/env python3
"""Writes tests/tokenizer/onig_cases.json: what Hugging Face tokenizers (Rust, via its Python
package, which runs every regex through Oniguruma) makes of tokenizer.json regexes that tessera's
hand-coded splitters do not cover. tessera runs them through Oniguruma too; the test
tokenizer_onig_reference_test checks it against this file.

Not part of the build or CI (it needs PyPI's `tokenizers`). Run it in a virtual environment
outside the repository:

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tokenizers==0.23.3
    /tmp/venv/bin/python tests/tokenizer/refgen/gen_onig_cases.py

The output holds:
  - "tokenizers": byte-level BPE tokenizers (vocabularies trained here by tokenizers' own
    BpeTrainer on the texts below, 1,200 tokens) whose pre-tokenizers are real-world Split patterns
    not among the three fast paths (GPT-4o's o200k, Mistral's Tekken, a DeepSeek-V3-style
    Sequence of three Splits), each with the ids Hugging Face encodes every text to;
  - "splits": Split pre-tokenizers (every behavior, invert, String patterns, empty matches,
    lookbehind), each with the pieces pre_tokenize_str gives for every text;
  - "replace_normalizers" and "replace_decoders": Replace with a Regex pattern, with the output
    normalize_str / decode gives.
The texts are the split texts of hard_cases.json (refgen/gen_hard_cases.mjs), the strings below,
and random strings drawn with a fixed seed from a set of code-point ranges.
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "onig_cases.json")
HARD_CASES = os.path.join(HERE, "..", "hard_cases.json")

# As published in the tokenizer.json of the models named (Hugging Face Hub).
O200K = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TEKKEN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
DEEPSEEK = [
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
    r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
]


def split(pattern, behavior="Isolated", invert=False, literal=False):
    return {
        "type": "Split",
        "pattern": {"String" if literal else "Regex": pattern},
        "behavior": behavior,
        "invert": invert,
    }


def byte_level(use_regex=False):
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
            "use_regex": use_regex}


TOKENIZER_PRE = {
    "o200k": {"type": "Sequence", "pretokenizers": [split(O200K), byte_level()]},
    "tekken": {"type": "Sequence", "pretokenizers": [split(TEKKEN), byte_level()]},
    "deepseek_v3": {"type": "Sequence",
                    "pretokenizers": [split(p) for p in DEEPSEEK] + [byte_level()]},
}

BEHAVIORS = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]
SPLITS = (
    [split(r"\s+", b, inv) for b in BEHAVIORS for inv in (False, True)]
    + [split(r"\p{P}", b, inv) for b in BEHAVIORS for inv in (False, True)]
    + [split(" ", b, False, literal=True) for b in BEHAVIORS]
    + [
        split(O200K), split(TEKKEN), *[split(p) for p in DEEPSEEK],
        split("a.b", "Isolated", False, literal=True),  # the dot is literal
        split("(?<=[a-z])(?=[A-Z])"),  # empty matches only: camelCase boundaries
        split("(?<=[a-z])(?=[A-Z])", "MergedWithNext"),
        split("x*"),  # empty matches between every character
        split("x*", "Contiguous"),
        split("(?i)the", "MergedWithPrevious"),
        split(r"\d+", "Removed", True),
        split(r"(?<=\p{N})\p{L}+"),
        split(r"\b"),
        split(r"\X", "Isolated"),  # extended grapheme clusters
    ]
)
REPLACE_NORMALIZERS = [
    {"type": "Replace", "pattern": {"Regex": r" {2,}"}, "content": " "},
    {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": "\u2581"},
    {"type": "Replace", "pattern": {"Regex": r"(?<=\p{L})'(?=\p{L})"}, "content": "\u2019"},
    {"type": "Replace", "pattern": {"Regex": "x*"}, "content": "-"},
    {"type": "Replace", "pattern": {"Regex": r"\p{N}"}, "content": ""},
]
REPLACE_DECODERS = [
    {"type": "Replace", "pattern": {"Regex": "\u2581+"}, "content": " "},
    {"type": "Replace", "pattern": {"Regex": r"^\s+|\s+$"}, "content": ""},
    {"type": "Replace", "pattern": {"Regex": "x*"}, "content": "-"},
]

EXTRA_TEXTS = [
    "Hello world! It's GPT-4o's tokenizer: HelloWorld camelCaseXMLParser iPhone McDonald's",
    "THE CAT'S TOYS AREN'T HERE; they'Re THERE'LL be",
    "path/to/file.txt\nhttps://example.com/a/b?c=d&e=f\n\n  indented /slashes//",
    "12345678 3.14159 1,000,000 \u0663\u0664\u0665\u0666 \uff11\uff12\uff13",
    "\u4e2d\u6587\u6587\u672c\u3068\u3072\u3089\u304c\u306a\u3068\u30ab\u30bf\u30ab\u30ca\u6df7\u5408 mixed",
    "e\u0301 \u0915\u094d\u0937 \u1100\u1161\u11a8 combining\u0301\u0302marks",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467 \U0001F44D\U0001F3FD \U0001F1EF\U0001F1F5 emoji",
    "tabs\tand\u00a0nbsp\u3000ideographic\u2028line\u0085next  \r\n\r\n",
    "the theThe THE tHe xxx axxb x",
    "snake_case_name __dunder__ kebab-case #hash @at $dollar %percent",
    "  leading and trailing  ",
    "a" * 300 + " " + "Z" * 200 + " " + "9" * 50,
    "   \n\n\t  \r\n   ",
    "'s 'S '\u017f'T'RE'VE'M'LL'D",
]

# Code-point ranges for random strings: ASCII, Latin-1 and Latin Extended, combining marks,
# Greek and Cyrillic, Arabic, Devanagari, CJK, Hangul, kana, fullwidth forms, general
# punctuation and spaces, emoji and supplementary planes.
RANGES = [(0x20, 0x7E), (0x09, 0x0D), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x4FF),
          (0x600, 0x6FF), (0x900, 0x97F), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x4E80),
          (0xAC00, 0xAC80), (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x1D400, 0x1D4FF),
          (0x20000, 0x20040)]


def random_texts(rng, count):
    out = []
    for _ in range(count):
        n = rng.randint(1, 40)
        chars = []
        for _ in range(n):
            lo, hi = rng.choice(RANGES)
            c = chr(rng.randint(lo, hi))
            if 0xD800 <= ord(c) <= 0xDFFF:
                continue
            chars.append(c)
        out.append("".join(chars))
    return out


def training_texts(texts):
    # Enough repetition of the texts for merges beyond single bytes.
    return texts * 3


def byte_offsets(text, pieces):
    """The pieces as a flat [begin, end, begin, end, ...] of UTF-8 byte offsets into `text`
    (pre_tokenize_str gives code-point offsets); checked against the pieces' text."""
    flat = []
    for piece, (begin, end) in pieces:
        assert text[begin:end] == piece
        flat += [len(text[:begin].encode()), len(text[:end].encode())]
    return flat


def empty_tokenizer_json(pre_tokenizer=None, normalizer=None, decoder=None):
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": None,
        "decoder": decoder,
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": {"a": 0}, "merges": []},
    })


def train_tokenizer(pre_json, texts):
    tok = Tokenizer.from_str(empty_tokenizer_json(pre_json, decoder=byte_level(True)))
    tok.model = models.BPE()
    # from_str built the pre-tokenizer from JSON; training replaces only the model.
    trainer = trainers.BpeTrainer(vocab_size=1200, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_texts(texts), trainer=trainer)
    return tok


def main():
    with open(HARD_CASES, encoding="utf-8") as f:
        hard = json.load(f)
    texts = []
    for name in ("gpt2", "llama3", "qwen2"):
        for case in hard["splits"][name]["cases"]:
            if case["text"] not in texts:
                texts.append(case["text"])
    texts += EXTRA_TEXTS
    texts += random_texts(random.Random(17), 100)

    out = {
        "generator": f"tests/tokenizer/refgen/gen_onig_cases.py, tokenizers {tokenizers.__version__}",
        "texts": texts,
        "tokenizers": {},
        "splits": [],
        "replace_normalizers": [],
        "replace_decoders": [],
    }
    for name, pre in TOKENIZER_PRE.items():
        tok = train_tokenizer(pre, texts)
        tok_json = json.loads(tok.to_str())
        # The file as tessera will read it, and the same file read back by Hugging Face.
        tok = Tokenizer.from_str(json.dumps(tok_json))
        ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]
        for t, i in zip(texts, ids):
            assert tok.decode(i) == t, (name, t)
        out["tokenizers"][name] = {"tokenizer": tok_json, "ids": ids}

    for pre in SPLITS:
        tok = Tokenizer.from_str(empty_tokenizer_json(pre))
        pieces = [byte_offsets(t, tok.pre_tokenizer.pre_tokenize_str(t)) for t in texts]
        out["splits"].append({"pre_tokenizer": pre, "pieces": pieces})
    for norm in REPLACE_NORMALIZERS:
        tok = Tokenizer.from_str(empty_tokenizer_json(normalizer=norm))
        out["replace_normalizers"].append(
            {"normalizer": norm, "normalized": [tok.normalizer.normalize_str(t) for t in texts]})
    for dec in REPLACE_DECODERS:
        tok = Tokenizer.from_str(empty_tokenizer_json(decoder=dec))
        # Each text as one token and as its words (the decoder runs per token).
        cases = [[t] for t in texts] + [t.split(" ") for t in texts]
        out["replace_decoders"].append(
            {"decoder": dec, "tokens": cases, "decoded": [tok.decoder.decode(c) for c in cases]})

    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(texts)} texts, {len(out['tokenizers'])} tokenizers, "
          f"{len(out['splits'])} splits", file=sys.stderr)


if __name__ == "__main__":
    main()
