// Writes tests/tokenizer/hard_cases.json with an implementation independent of tessera:
// @lenml/tokenizers (a port of transformers.js' tokenizers). Run from this folder:
//
//   npm ci && node gen_hard_cases.mjs [FIXTURES_DIR] [REFERENCE_JSON]
//
// FIXTURES_DIR holds llama2/ llama3/ qwen3/ tokenizer.json (the build extracts them to
// build/tests/tokenizer/fixtures); REFERENCE_JSON is shared/fixtures/tokenizers/reference.json.
//
// The oracle is first checked against reference.json (Hugging Face tokenizers, Rust). Where it
// differs from the Rust library by construction, it is patched, and the patch is recorded in the
// output:
//  - the Split/ByteLevel regexes run in JavaScript, where \s is not Oniguruma's \s (JS adds U+FEFF
//    and leaves out U+0085) and "(?i:'s|...)" is rewritten by transformers.js as [sS] (losing
//    U+017F, which Oniguruma case-folds to s). The patched regex spells \s as \p{White_Space} and
//    the contraction letters as the classes that JavaScript's own /iu case folding gives.
//  - the ByteFallback decoder's TextDecoder drops a leading BOM; Rust keeps it.
// Categories (hard_strings.mjs) with any reference.json mismatch are dropped from the output.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tokenizers } from "@lenml/tokenizers";
import { HARD_STRINGS, SPLIT_ONLY_STRINGS } from "./hard_strings.mjs";
import { miniTokenizers } from "./mini_tokenizers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixturesDir = process.argv[2] ?? path.join(here, "../../../build/tests/tokenizer/fixtures");
const referencePath = process.argv[3] ?? path.join(here, "../../../../shared/fixtures/tokenizers/reference.json");
const outPath = path.join(here, "../hard_cases.json");
const FIXTURES = ["llama2", "llama3", "qwen3"];

// ---------------------------------------------------------------------------------------------
// Regexes: Oniguruma semantics in JavaScript.

const GPT2_REGEX = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
const CONTRACTIONS = ["s", "t", "re", "ve", "m", "ll", "d"];

// Every code point that JavaScript's case-insensitive Unicode matching equates with `letter`.
function caseClass(letter) {
  const re = new RegExp(`^${letter}$`, "iu");
  let cls = "";
  for (let cp = 0; cp <= 0x10ffff; ++cp) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    if (re.test(c)) cls += c;
  }
  return `[${cls}]`;
}
const CASE_CLASS = Object.fromEntries([..."strevmld"].map((l) => [l, caseClass(l)]));

function toJsRegex(source) {
  const folded = "'(?:" + CONTRACTIONS.map((c) => [...c].map((l) => CASE_CLASS[l]).join("")).join("|") + ")";
  return source
    .replaceAll("(?i:'s|'t|'re|'ve|'m|'ll|'d)", folded)
    .replaceAll(String.raw`\s`, String.raw`\p{White_Space}`)
    .replaceAll(String.raw`\S`, String.raw`\P{White_Space}`);
}

// "Isolated" splitting: matches and the gaps between them, in order.
function splitIsolated(text, source) {
  const re = new RegExp(toJsRegex(source), "gu");
  const out = [];
  let prev = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > prev) out.push(text.slice(prev, m.index));
    if (m[0].length > 0) out.push(m[0]);
    prev = m.index + m[0].length;
  }
  if (prev < text.length) out.push(text.slice(prev));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The oracle tokenizer.

function children(obj) {
  return [...(obj?.tokenizers ?? []), ...(obj?.decoders ?? [])];
}

function walk(obj, visit) {
  if (!obj) return;
  visit(obj);
  for (const c of children(obj)) walk(c, visit);
}

function makeOracle(tokenizerJson, patched) {
  const json = structuredClone(tokenizerJson);
  if (patched) {
    const visitJson = (p) => {
      if (!p) return;
      if (p.type === "Split" && p.pattern?.Regex !== undefined) p.pattern.Regex = toJsRegex(p.pattern.Regex);
      for (const c of p.pretokenizers ?? []) visitJson(c);
    };
    visitJson(json.pre_tokenizer);
  }
  // The base class: tokenizer_config.json-driven subclasses (e.g. LlamaTokenizer's "legacy"
  // mode) change encoding in ways that Hugging Face tokenizers' Tokenizer does not.
  const tok = new tokenizers.PreTrainedTokenizer(json, {});
  if (patched) {
    walk(tok.pre_tokenizer, (p) => {
      if (p.byte_encoder && p.pattern) p.pattern = new RegExp(toJsRegex(GPT2_REGEX), "gu");
    });
    walk(tok.decoder, (d) => {
      if (d.text_decoder && !d.byte_decoder) d.text_decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    });
  }
  return {
    encode: (text, add_special_tokens) => tok.encode(text, { add_special_tokens }),
    // transformers.js refuses to decode an empty list; Rust gives "" (reference.json, case "").
    decode: (ids, skip_special_tokens) =>
      ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens, clean_up_tokenization_spaces: false }),
  };
}

function encodeCase(oracle, text) {
  const ids = oracle.encode(text, false);
  const ids_with_special = oracle.encode(text, true);
  return {
    text, ids, ids_with_special,
    decoded: oracle.decode(ids_with_special, false),
    decoded_skip_special: oracle.decode(ids_with_special, true),
  };
}

// ---------------------------------------------------------------------------------------------
// Checking the oracle against reference.json, by category.

// The categories of hard_strings.mjs that a reference text exercises.
function categoriesOf(text, addedContents) {
  const cats = new Set();
  if (/^\p{White_Space}*$/u.test(text) || /\p{White_Space}\p{White_Space}|^\p{White_Space}|\p{White_Space}$/u.test(text)) cats.add("whitespace");
  if (/[^\x00-\x7f]/u.test(text) && /\p{Zs}/u.test(text.replaceAll(" ", ""))) cats.add("unicode_space");
  if (text.includes("'")) cats.add("contraction");
  if (/\p{N}/u.test(text)) cats.add("digit");
  if (/[\p{P}\p{S}]/u.test(text)) cats.add("punctuation");
  if (/[^\p{Script=Latin}\p{Script=Common}\p{Script=Inherited}]/u.test(text)) cats.add("script");
  if (/\p{Extended_Pictographic}/u.test(text)) cats.add("emoji");
  if (/\p{M}/u.test(text) || /[\u00c0-\u024f]/u.test(text)) cats.add("combining");
  if (/[\u200b-\u200d\ufeff]/u.test(text)) cats.add("zero_width");
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/u.test(text)) cats.add("control");
  if (/[^\s]{64,}/u.test(text) || /\S{40,}/u.test(text)) cats.add("long_word");
  if (addedContents.some((c) => text.includes(c))) cats.add("special");
  if (/\n {2,}|\t|\(|\{/u.test(text)) cats.add("code");
  return [...cats];
}

function checkReference(reference, jsons, patched) {
  const report = {};
  const categoryMismatch = {};
  const categoryCount = {};
  for (const name of FIXTURES) {
    const oracle = makeOracle(jsons[name], patched);
    const contents = jsons[name].added_tokens.map((t) => t.content);
    const mismatches = [];
    for (const c of reference.tokenizers[name]) {
      const ids = oracle.encode(c.text, false);
      const ids2 = oracle.encode(c.text, true);
      const decoded = oracle.decode(c.ids, false);
      const ok = JSON.stringify(ids) === JSON.stringify(c.ids) &&
                 JSON.stringify(ids2) === JSON.stringify(c.ids_with_special) && decoded === c.decoded;
      for (const cat of categoriesOf(c.text, contents)) {
        categoryCount[cat] = (categoryCount[cat] ?? 0) + 1;
        if (!ok) categoryMismatch[cat] = (categoryMismatch[cat] ?? 0) + 1;
      }
      if (!ok) mismatches.push({ text: c.text, ids, expected: c.ids, decoded, expected_decoded: c.decoded });
    }
    report[name] = { cases: reference.tokenizers[name].length, mismatches };
  }
  return { report, categoryCount, categoryMismatch };
}

// ---------------------------------------------------------------------------------------------

function main() {
  const reference = JSON.parse(fs.readFileSync(referencePath, "utf8"));
  const jsons = Object.fromEntries(FIXTURES.map((n) => [n, JSON.parse(fs.readFileSync(path.join(fixturesDir, n, "tokenizer.json"), "utf8"))]));

  const raw = checkReference(reference, jsons, false);
  const patched = checkReference(reference, jsons, true);
  for (const [label, r] of [["unpatched", raw], ["patched", patched]]) {
    for (const name of FIXTURES) {
      const { cases, mismatches } = r.report[name];
      console.log(`reference.json ${name} (${label} oracle): ${cases - mismatches.length}/${cases} agree`);
      for (const m of mismatches) console.log("  MISMATCH", JSON.stringify(m));
    }
  }
  const allCats = [...new Set(HARD_STRINGS.flatMap((h) => h.categories))].sort();
  const categories = {};
  for (const cat of allCats) {
    const n = patched.categoryCount[cat] ?? 0;
    const bad = patched.categoryMismatch[cat] ?? 0;
    categories[cat] = { reference_cases: n, reference_mismatches: bad,
                        status: bad > 0 ? "dropped" : n > 0 ? "agreed" : "not covered by reference.json" };
    console.log(`category ${cat}: ${categories[cat].status} (${n} reference cases, ${bad} mismatching)`);
  }
  const usable = HARD_STRINGS.filter((h) => h.categories.every((c) => categories[c].status !== "dropped"));

  const fixtures = {};
  for (const name of FIXTURES) {
    const oracle = makeOracle(jsons[name], true);
    fixtures[name] = usable.map((h) => ({ categories: h.categories, ...encodeCase(oracle, h.text) }));
  }

  const mini = miniTokenizers().map((m) => {
    const oracle = makeOracle(m.tokenizer, true);
    return {
      name: m.name, tokenizer: m.tokenizer,
      cases: m.texts.map((t) => encodeCase(oracle, t)),
      decode: m.decode.map((ids) => ({ ids, decoded: oracle.decode(ids, false), decoded_skip_special: oracle.decode(ids, true) })),
    };
  });

  const splitTexts = [...new Set([...HARD_STRINGS.map((h) => h.text), ...SPLIT_ONLY_STRINGS])];
  const patterns = {
    gpt2: GPT2_REGEX,
    llama3: jsons.llama3.pre_tokenizer.pretokenizers[0].pattern.Regex,
    qwen2: jsons.qwen3.pre_tokenizer.pretokenizers[0].pattern.Regex,
  };
  const splits = Object.fromEntries(Object.entries(patterns).map(([name, source]) =>
    [name, { regex: source, js_regex: toJsRegex(source), cases: splitTexts.map((text) => ({ text, pieces: splitIsolated(text, source) })) }]));

  const out = {
    oracle: "@lenml/tokenizers 3.7.2 (transformers.js port), generated by tests/tokenizer/refgen/gen_hard_cases.mjs",
    oracle_patches: [
      "Split and ByteLevel regexes: \\s -> \\p{White_Space}, (?i:'s|...) -> JS /iu case-fold classes (Oniguruma semantics)",
      "ByteFallback decoder keeps a leading BOM (TextDecoder ignoreBOM), as Rust's String::from_utf8 does",
    ],
    reference_check: Object.fromEntries(FIXTURES.map((n) => [n, {
      cases: patched.report[n].cases,
      mismatches_unpatched: raw.report[n].mismatches.length,
      mismatches_patched: patched.report[n].mismatches.length }])),
    categories,
    fixtures, mini, splits,
  };
  fs.writeFileSync(outPath, formatJson(out) + "\n");
  console.log(`wrote ${outPath}: ${usable.length} hard strings per fixture, ${mini.length} mini tokenizers, ${splitTexts.length} split texts`);
}

// Pretty enough to diff: objects nest with indentation, but each case, tokenizer.json and id list
// stays on one line. JSON.stringify escapes only what JSON requires, so \u escapes are used for
// the rest of the invisible characters to keep the file readable.
function formatJson(value, indent = "") {
  const oneLine = (v) => JSON.stringify(v).replace(/[\u0080-\u009f\u00ad\u200b-\u200f\u2028\u2029\ufeff]/gu,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== "object" || v === null) ) return oneLine(value);
    return "[\n" + value.map((v) => indent + "  " + (isLeafCase(v) ? oneLine(v) : formatJson(v, indent + "  "))).join(",\n") + "\n" + indent + "]";
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value).map(([k, v]) => {
      const body = k === "tokenizer" ? oneLine(v) : formatJson(v, indent + "  ");
      return `${indent}  ${JSON.stringify(k)}: ${body}`;
    });
    return "{\n" + entries.join(",\n") + "\n" + indent + "}";
  }
  return oneLine(value);
}
function isLeafCase(v) {
  return v && typeof v === "object" && !Array.isArray(v) && ("text" in v || "ids" in v);
}

main();
