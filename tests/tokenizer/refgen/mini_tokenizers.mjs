// Small hand-written tokenizer.json objects that isolate one feature each, with the inputs to
// encode and the id sequences to decode. The expected outputs are not written here: the oracle
// computes them (gen_hard_cases.mjs).

// GPT-2's byte -> character map, to spell a byte-level vocabulary.
function bytesToUnicode() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
  const out = [];
  let next = 256;
  for (let b = 0; b < 256; ++b) out.push(String.fromCodePoint(printable(b) ? b : next++));
  return out;
}

function bpeModel(vocabList, merges, extra = {}) {
  const vocab = {};
  vocabList.forEach((t, i) => (vocab[t] = i));
  return { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null,
           end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges,
           ...extra };
}

function tokenizer(model, parts = {}) {
  return { version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null,
           pre_tokenizer: null, post_processor: null, decoder: null, model, ...parts };
}

function addedToken(id, content, flags = {}) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
           special: false, ...flags };
}

// --- merges: the same merges as "a b" strings and as ["a", "b"] pairs ----------------------
const ABC_VOCAB = ["a", "b", "c", "ab", "bc", "abc", "ca", "cab"];
const ABC_MERGES = [["b", "c"], ["a", "b"], ["ab", "c"], ["c", "a"], ["ca", "b"]];
const ABC_TEXTS = ["abc", "abcabc", "cab", "bca", "cabcab", "aaabbbccc", "c"];

// --- sentencepiece-style byte fallback (Llama 2 layout) ---------------------------------------
function byteFallbackTokenizer() {
  const vocab = ["<unk>", "<s>", "</s>"];
  for (let b = 0; b < 256; ++b) vocab.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  vocab.push("\u2581", "h", "e", "l", "o", "w", "r", "d", "\u2581h", "ll", "he", "llo", "hello",
             "\u2581hello", "\u2581w", "or", "\u2581wor", "\u2581world");
  const merges = ["\u2581 h", "l l", "h e", "ll o", "he llo", "\u2581 hello", "\u2581 w", "o r",
                  "\u2581w or", "\u2581wor l", "\u2581worl d"];
  vocab.push("\u2581worl");
  const model = bpeModel(vocab, merges, { unk_token: "<unk>", fuse_unk: true, byte_fallback: true });
  return tokenizer(model, {
    added_tokens: [addedToken(0, "<unk>", { special: true }), addedToken(1, "<s>", { special: true }),
                   addedToken(2, "</s>", { special: true })],
    normalizer: { type: "Sequence", normalizers: [
      { type: "Prepend", prepend: "\u2581" },
      { type: "Replace", pattern: { String: " " }, content: "\u2581" }] },
    post_processor: { type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
               { SpecialToken: { id: "</s>", type_id: 0 } }],
      pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] },
                        "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] } } },
    decoder: { type: "Sequence", decoders: [
      { type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" },
      { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] },
  });
}
const byte = (b) => 3 + b;  // id of <0xNN> in byteFallbackTokenizer()

// --- unknown characters without byte fallback ---------------------------------------------
function unkTokenizer(fuse_unk) {
  return tokenizer(bpeModel(["<unk>", "a", "b", "ab"], ["a b"], { unk_token: "<unk>", fuse_unk }));
}

// --- ignore_merges: a word that is in the vocabulary wins over the merges --------------------
function ignoreMergesTokenizer(ignore_merges) {
  // No merge builds "abc", so only the whole-word lookup can produce it.
  return tokenizer(bpeModel(["a", "b", "c", "ab", "bc", "abc"], ["b c", "a b"], { ignore_merges }));
}

// --- byte-level vocabulary shared by the ByteLevel and added-token tokenizers ----------------
function byteLevelModel() {
  const chars = bytesToUnicode();
  const merges = [["\u0120", "w"], ["\u0120w", "o"], ["h", "e"], ["l", "l"], ["he", "ll"],
                  ["hell", "o"], ["\u0120", "h"], ["\u0120h", "e"], ["\u0120he", "ll"],
                  ["\u0120hell", "o"], ["'", "s"], ["\u0120", "\u0120"], ["\u010a", "\u010a"]];
  const vocab = [...chars];
  for (const [a, b] of merges) if (!vocab.includes(a + b)) vocab.push(a + b);
  return bpeModel(vocab, merges);
}

function byteLevelTokenizer(use_regex, add_prefix_space) {
  return tokenizer(byteLevelModel(), {
    pre_tokenizer: { type: "ByteLevel", add_prefix_space, trim_offsets: true, use_regex },
    decoder: { type: "ByteLevel", add_prefix_space, trim_offsets: true, use_regex: true },
  });
}
const BYTE_LEVEL_TEXTS = ["hello world", " hello", "a  b", "it's hello's", "x\ny\n\nz", "hello",
                          "  ", "caf\u00e9 \u{1F600}", "hello\tworld", "123 4"];

// --- added tokens: lstrip / rstrip, special and non-special ---------------------------------
function addedTokensTokenizer() {
  const model = byteLevelModel();
  let next = Object.keys(model.vocab).length;
  const t = (content, flags) => addedToken(next++, content, flags);
  return tokenizer(model, {
    added_tokens: [t("<special>", { special: true }), t("<ls>", { special: true, lstrip: true }),
                   t("<rs>", { special: true, rstrip: true }),
                   t("<both>", { special: false, lstrip: true, rstrip: true }),
                   t("[plain]", { special: false }), t("[plain]long", { special: false })],
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  });
}
const ADDED_TEXTS = ["a <ls> b", "a<rs>  b", "x  <both>\t y", "hi<special>there",
                     "[plain] and <special>", "<ls><rs>", "  <ls>", "<rs>  ", "a \t <ls>",
                     "[plain]long [plain]lon", "<special> <special>", "a<both>b", "<ls"];

// --- an added token with normalized=true is matched in the normalized text -------------------
// (transformers.js matches every added token in the raw text, so only inputs where both readings
// agree are given to it; tessera's test adds the rest by hand.)
function normalizedAddedTokenTokenizer() {
  return tokenizer(bpeModel(["x", "a", "b", "\u2581"], []), {
    added_tokens: [addedToken(4, "a b", { normalized: true })],
    normalizer: { type: "Replace", pattern: { String: " " }, content: "\u2581" },
  });
}

export function miniTokenizers() {
  const ids = (n) => Array.from({ length: n }, (_, i) => i);
  const bf = byteFallbackTokenizer();
  const fbId = (t) => bf.model.vocab[t];
  return [
    { name: "merges_strings",
      tokenizer: tokenizer(bpeModel(ABC_VOCAB, ABC_MERGES.map(([a, b]) => `${a} ${b}`))),
      texts: ABC_TEXTS, decode: [ids(8)] },
    { name: "merges_pairs", tokenizer: tokenizer(bpeModel(ABC_VOCAB, ABC_MERGES)),
      texts: ABC_TEXTS, decode: [ids(8)] },
    // A merge listed twice takes the rank of its last occurrence ("b c" ranks after "a b").
    { name: "merges_duplicate",
      tokenizer: tokenizer(bpeModel(ABC_VOCAB, [...ABC_MERGES, ["b", "c"]])),
      texts: ABC_TEXTS, decode: [] },
    { name: "byte_fallback", tokenizer: bf,
      texts: ["hello world", "h\u00e9llo", "h\u20ac", "\u{1F600} world", "\u0000x", "w\u00e9\u00e9",
              "hello  world", " ", "", "<s>hello</s>", "\u00e9"],
      decode: [
        [byte(0xc3), byte(0xa9)],                                           // é from two tokens
        [fbId("h"), byte(0xe2), byte(0x82), byte(0xac), fbId("llo")],       // € between tokens
        [fbId("\u2581hello"), byte(0xf0), byte(0x9f), byte(0x98), byte(0x80)],
        [fbId("h"), byte(0xe2)],                                            // truncated: one U+FFFD
        [byte(0x80)],                                                       // lone continuation
        [byte(0x80), byte(0x80), fbId("o")],
        [byte(0xff)],
        [1, fbId("\u2581hello"), 2, 0],
        [fbId("\u2581"), fbId("\u2581"), fbId("h")],
      ] },
    { name: "unk", tokenizer: unkTokenizer(false), texts: ["axxb", "abzab", "z", "ab"],
      decode: [[0, 1, 0, 3]] },
    { name: "unk_fused", tokenizer: unkTokenizer(true), texts: ["axxb", "abzzzab", "zz", "xaxx"],
      decode: [] },
    { name: "ignore_merges_off", tokenizer: ignoreMergesTokenizer(false),
      texts: ["abc", "abcabc", "bc"], decode: [] },
    { name: "ignore_merges_on", tokenizer: ignoreMergesTokenizer(true),
      texts: ["abc", "abcabc", "bc"], decode: [] },
    ...[[true, false], [true, true], [false, false], [false, true]].map(([r, p]) => ({
      name: `byte_level_regex_${r}_prefix_${p}`, tokenizer: byteLevelTokenizer(r, p),
      texts: BYTE_LEVEL_TEXTS, decode: [] })),
    { name: "added_tokens", tokenizer: addedTokensTokenizer(), texts: ADDED_TEXTS, decode: [] },
    { name: "added_token_normalized", tokenizer: normalizedAddedTokenTokenizer(),
      texts: ["xa b", "a ba b", "x x"], decode: [] },
  ];
}
