// Inputs for the hard cases, each tagged with the categories it exercises. A category is used
// only when the oracle reproduces every reference.json case of that category (see
// gen_hard_cases.mjs); categories that reference.json does not cover are kept but reported.

const long_word = "Pneumonoultramicroscopicsilicovolcanoconiosis";

export const HARD_STRINGS = [
  // Contractions: the split patterns match 's 't 're 've 'm 'll 'd, case-insensitively for
  // Llama 3 and Qwen; U+017F (long s) case-folds to 's'.
  ["contraction", "I'M HERE, THEY'RE GONE, WE'VE SEEN, YOU'D, SHE'S, IT'LL, DON'T"],
  ["contraction", "they'RE they'Re They'rE we'Ve I'm i'M"],
  ["contraction", "'s at the start"],
  ["contraction", "'S'T'RE'VE'M'LL'D"],
  ["contraction", "the cat'\u017f toy"],
  ["contraction", "'\u017f"],
  ["contraction", "cat'\u017ftuff '\u017fs"],
  ["contraction", "it''s ''' 'x 'll've"],
  ["contraction", "rock 'n' roll 'tis"],
  ["contraction punctuation", "the dog\u2019s bone"],
  // Whitespace runs.
  ["whitespace", "a  b   c    d"],
  ["whitespace", "\t\tindented\twith\ttabs\t"],
  ["whitespace", "\n\n\n"],
  ["whitespace", " \n "],
  ["whitespace", "trailing spaces   "],
  ["whitespace", "     "],
  ["whitespace", "line one\r\nline two\r\n"],
  ["whitespace", "\r\n\r\n"],
  ["whitespace", " \t \n\t \r\n  x"],
  ["whitespace", "a \n\n b"],
  ["unicode_space", "a\u3000b\u2003c\u00a0\u00a0d"],
  ["unicode_space", "x\u0085y\u2028z"],
  ["unicode_space", "x\u0085\u0085 y\u0085"],
  // U+0085 is White_Space and U+FEFF is not: here JavaScript's own \s would split differently.
  ["unicode_space zero_width", "x \u0085y \ufeffz"],
  // Digits.
  ["digit", "12345678901234567890"],
  ["digit punctuation", "1,234,567.89 and 0.000001"],
  ["digit", "x1y22z333w4444v55555"],
  ["digit", "\uff11\uff12\uff13\uff14 fullwidth"],
  ["digit script", "\u0663\u0664\u0665 arabic-indic \u0966\u0967"],
  ["digit", "\u00b2\u00b3 \u00bd \u216b"],
  ["digit", " 123 4567 89"],
  // Punctuation runs.
  ["punctuation", "!!!???...;;;:::---___"],
  ["punctuation", "(((nested[brackets]{here})))"],
  ["punctuation", "...hello...world..."],
  ["punctuation", "\u00abquotes\u00bb \u201cdouble\u201d \u2018single\u2019"],
  ["punctuation", "a\u2014b\u2013c\u2026d"],
  ["punctuation whitespace", " !!\n\n?? \r\n"],
  // Mixed scripts.
  ["script", "\u4e2d\u6587English\u6df7\u5408text\u65e5\u672c\u8a9e"],
  ["script", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22\u0e44\u0e21\u0e48\u0e21\u0e35\u0e0a\u0e48\u0e2d\u0e07\u0e27\u0e48\u0e32\u0e07"],
  ["script", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0645\u0639 \u0623\u0631\u0642\u0627\u0645"],
  ["script combining", "\u0939\u093f\u0928\u094d\u0926\u0940 \u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f"],
  ["script combining", "\u1100\u1161\u11a8 \u1112\u1161\u11ab"],
  ["script", "\ud55c\uad6d\uc5b4\uc640 English \ud63c\ud569"],
  ["script", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u0438 \u0440\u0443\u0441\u0441\u043a\u0438\u0439"],
  // Emoji: ZWJ sequences, skin tones, flags, variation selectors.
  ["emoji", "\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466} family"],
  ["emoji", "\u{1F44D}\u{1F3FF}\u{1F44D}\u{1F3FB} skin tones"],
  ["emoji", "\u{1F1FA}\u{1F1F8}\u{1F1EF}\u{1F1F5} flags"],
  ["emoji", "\u{1F3F3}\ufe0f\u200d\u{1F308} rainbow"],
  ["emoji", "emoji\u{1F600}inside\u{1F600}words"],
  // NFC vs NFD (Qwen normalizes to NFC; the others see the raw sequence).
  ["combining", "e\u0301"],
  ["combining", "cafe\u0301 vs caf\u00e9"],
  ["combining", "A\u030a\u0301 \u212b"],
  ["combining", "\u0301 leading combining mark"],
  // Zero-width characters, BOM, controls.
  ["zero_width", "zero\u200bwidth\u200cnon\u200djoiner"],
  ["zero_width", "\ufeffBOM at start"],
  ["zero_width", "mid\ufeffBOM"],
  ["zero_width", "a\ufeff b \ufeff\ufeff end\ufeff"],
  ["zero_width", "\ufeff"],
  ["control", "ctrl\u0000\u0001\u0007\u001b[0m\u007f end"],
  ["control", "\u000b\u000c vertical tab and form feed"],
  // Words longer than the 64-byte BPE cache limit.
  ["long_word", long_word + long_word],
  ["long_word", "x".repeat(70) + "yz"],
  ["long_word script", "\u4e2d".repeat(30)],
  ["long_word", "supercalifragilisticexpialidocious".repeat(3)],
  ["long_word emoji", "\u{1F600}".repeat(20)],
  // Added tokens in the text, complete and partial, with and without spaces around.
  ["special", "<|begin_of_text|>Hello<|end_of_text|>"],
  ["special", "<|im_start|>user\nhi<|im_end|>"],
  ["special", "<s>Hello</s>"],
  ["special", "<s></s><s>"],
  ["special", "<|im_st"],
  ["special", "<|im_start|"],
  ["special", "text<|im_end|>text"],
  ["special", " <s> spaced </s> "],
  ["special", "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"],
  ["special", "<unk>"],
  ["special", "<|endoftext|><|endoftext|>"],
  ["special", "<<s>>"],
  // Edge inputs and code.
  ["whitespace", ""],
  ["whitespace", " "],
  ["code", "def f(x):\n\tif x:\n\t\treturn {'a': [1, 2]}\n    # comment\n"],
  ["code", 'int main() {\n  printf("%d\\n", 42);\n  return 0;\n}\n'],
  ["code whitespace", "    \n    \n"],
  ["code", '<div class="x">&nbsp;</div>'],
].map(([categories, text]) => ({ categories: categories.split(" "), text }));

// Extra inputs for the word splitter alone (no tokenizer involved).
export const SPLIT_ONLY_STRINGS = [
  "  a", "a  ", "\t\n x", "'s'S'\u017f", "1234567", "x\r\n\r\ny", "a\u00a0b", "\u3000x",
  "123abc", "a123", " 123", "\n\n a", "\u{1F600}\u{1F600} x", " 's", "a's", "A'LL", "''",
  "  \n", "\n  ", " \r", "x\n", "$$$ 5", " .x", "._a", "\u00e9t\u00e9", "a\u0301b", "_x_",
];

// Seeded random concatenations of hard fragments (added-token spellings, combining marks,
// odd whitespace, contractions), for differential coverage beyond the hand-picked strings.
function randomStrings(count, seed) {
  const pool = [..."aZ9 '\t\n\r.,!?-_<>|/", "<|im_start|>", "<|im_end|>", "<s>", "</s>",
    "<|begin_of_text|>", "<unk>", "\u00e9", "e\u0301", "\u4e2d", "\u{1F600}", "\u{1F3FB}", "\u200d",
    "\ufeff", "\u0085", "\u00a0", "\u3000", "\u017f", "'s", "'LL", "\u0663", "\uff11", "\u0e44",
    "\u0939\u093f", "\u1100\u1161", "  ", "\n\n", "123456", "\u0000", "\u2581", "\u00b2"];
  const next = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const out = [];
  for (let i = 0; i < count; ++i) {
    let s = "";
    for (let j = next(25); j > 0; --j) s += pool[next(pool.length)];
    out.push({ categories: ["random"], text: s });
  }
  return out;
}
HARD_STRINGS.push(...randomStrings(100, 12345));
