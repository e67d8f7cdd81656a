#!/usr/bin/env python3
"""Writes jinja_cases.json: hand-written templates rendered by Python jinja2 set up exactly as
transformers sets up its chat-template environment (the oracle the C++ interpreter is tested
against; the expected strings never come from the code under test).

  python3 tests/chat_template/jinja_oracle.py > tests/chat_template/jinja_cases.json

Needs jinja2 (3.1.x). Each case: {name, template, [vars], expected} or {name, template, [vars],
error: message, raised: bool} (raised: the template called raise_exception); a case without its
own vars uses the file's.
"""
import json
import os
import random
import sys
from datetime import datetime

import jinja2
from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = datetime(2024, 7, 26, 9, 5, 3)


class Raised(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    return env


MSGS = [
    {"role": "system", "content": "  Be brief.\n"},
    {"role": "user", "content": "Hi \u00e9\u4e16\U0001F600 'q' \"d\""},
    {"role": "assistant", "content": "Hello!", "tool_calls": [
        {"type": "function", "function": {"name": "get", "arguments": {"city": "Paris", "n": 2}}}]},
    {"role": "tool", "content": "{\"t\": 21.5}"},
]
VARS = {
    "messages": MSGS,
    "s": "  Hello, World  ",
    "n": 7,
    "f": 2.5,
    "big": 1e20,
    "small": 1e-05,
    "t": True,
    "none": None,
    "lst": [3, 1, 2],
    "words": ["b", "A", "c", "a"],
    "d": {"b": 1, "a": [1, "x", None, True, 1.0], "c": {"k": "v"}},
    "tools": [{"type": "function", "function": {"name": "f", "description": "d <&> 'x'",
                                                "parameters": {"type": "object", "properties": {}}}}],
    "empty": [],
    "u": "\u00e9t\u00e9 \u3000x\u3000",
}

CASES = [
    # output and literals
    ("print_types", "{{ n }}|{{ f }}|{{ t }}|{{ none }}|{{ big }}|{{ small }}|{{ 1.0 }}|{{ -0.0 }}|{{ 3/2 }}|{{ 4/2 }}"),
    ("print_containers", "{{ lst }}|{{ d }}|{{ (1,) }}|{{ (1, 'a') }}|{{ [] }}|{{ {} }}"),
    ("print_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n\\ttab', '\\x01'] }}"),
    ("print_undefined", "[{{ missing }}][{{ d.nothing }}][{{ d['nothing'] }}][{{ lst[10] }}]"),
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\'e\\u00e9\\x41\\101' }}|{{ \"dq\\\"x\" }}|{{ 'ad' 'jacent' }}"),
    ("int_literals", "{{ 1_000 }}|{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 1e3 }}|{{ 2.5e-3 }}"),
    ("arith", "{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 7.5 % 2 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 1 + 2 * 3 - 4 }}|{{ -n }}|{{ +n }}|{{ t + 1 }}"),
    ("concat", "{{ 'a' ~ 1 ~ none ~ t }}|{{ 'x' + 'y' }}|{{ [1] + [2] }}|{{ 'ab' * 3 }}|{{ [0] * 2 }}"),
    ("percent_format", "{{ '%s-%d-%r' % ('a', 5, 'b') }}|{{ '%05.1f' % 3.14159 }}|{{ '%s' % none }}|{{ '%%' % () }}"),
    ("compare", "{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 == 1.0 }}{{ 'a' != 'b' }}{{ [1,2] == [1,2] }}{{ d == d }}{{ 'b' > 'a' }}{{ t == 1 }}{{ none == none }}"),
    ("in_ops", "{{ 'ell' in s }}{{ 2 in lst }}{{ 'a' in d }}{{ 'z' not in d }}{{ 'a' in missing }}{{ 5 not in lst }}"),
    ("logic", "{{ 0 or 'x' }}|{{ 1 and 'y' }}|{{ none or [] }}|{{ not lst }}|{{ not empty }}|{{ 'a' if t else 'b' }}|{{ 'a' if none }}|{{ 'a' if none else 'b' if t else 'c' }}"),
    # whitespace control
    ("ws_trim_lstrip", "<ul>\n  {% for x in lst %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n"),
    ("ws_minus", "a  \n  {%- if t -%}  \n  b  \n  {%- endif -%}\n  c"),
    ("ws_plus", "a\n  {%+ if t %}b{% endif +%}\nc"),
    ("ws_var_minus", "x  {{- 'v' -}}  \n y {{ 'w' }}\n z"),
    ("ws_comment", "a\n  {# comment #}\nb\n  {#- c -#}  \nc{# x #}d"),
    ("ws_inline_after_var", "{{ 'v' }}  {% if t %}x{% endif %}\n  {% if t %}y{% endif %}"),
    ("ws_tabs", "\t \t{% if t %}\n\tX\n\t{% endif %}\n"),
    ("ws_crlf", "a\r\n{% if t %}\r\nb\r\n{% endif %}\r\nc\r\n"),
    ("ws_trailing_two_newlines", "x\n\n"),
    ("raw_block", "{% raw %}{{ not evaluated }}{% if %}{% endraw %}|\n  {% raw -%}  a  {%- endraw %}\nz"),
    # filters
    ("f_trim_len", "[{{ s|trim }}][{{ s|length }}][{{ u|trim }}][{{ u|length }}][{{ none|trim }}][{{ missing|length }}][{{ 'xxaxx'|trim('x') }}]"),
    ("f_string_list", "{{ lst|string }}|{{ 'abc'|list }}|{{ d|list }}|{{ n|string }}|{{ missing|string }}"),
    ("f_join", "{{ lst|join(', ') }}|{{ words|join }}|{{ [none, 1]|join('-') }}|{{ messages|join('/', attribute='role') }}"),
    ("f_items", "{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}{% for k, v in d.items() %}{{ k }};{% endfor %}"),
    ("f_tojson", "{{ d|tojson }}\n{{ tools|tojson(indent=4) }}\n{{ d|tojson(indent=2, sort_keys=true) }}\n{{ 'é<&>'|tojson }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ [1.0, 1e-05, 21.5, none, true]|tojson }}|{{ d|tojson(separators=(',', ':')) }}|{{ empty|tojson(indent=2) }}|{{ {}|tojson(indent=2) }}"),
    ("f_select", "{{ messages|selectattr('role', 'equalto', 'user')|list|length }}|{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }}|{{ lst|select('odd')|list }}|{{ lst|reject('equalto', 1)|list }}|{{ messages|selectattr('tool_calls')|map(attribute='role')|list }}|{{ messages|selectattr('tool_calls', 'defined')|list|length }}"),
    ("f_map", "{{ words|map('upper')|join }}|{{ messages|map(attribute='name', default='?')|join }}|{{ messages|map(attribute='tool_calls.0.function.name')|list }}"),
    ("f_indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(width='> ', blank=true) }}"),
    ("f_misc", "{{ lst|first }}{{ lst|last }}{{ empty|first }}|{{ missing|default('dflt') }}{{ ''|default('e', true) }}{{ none|default('x') }}|{{ 'hello world'|title }}{{ 'hELLO'|capitalize }}{{ 'Ab'|upper }}{{ 'Ab'|lower }}|{{ 'aXbX'|replace('X', '-') }}{{ 'aaa'|replace('a', 'b', 2) }}"),
    ("f_numbers", "{{ '42'|int }}{{ '4.7'|int }}{{ 'x'|int }}{{ 'x'|int(9) }}{{ 3.9|int }}|{{ '2.5'|float }}{{ 'q'|float }}|{{ -3|abs }}{{ 2.567|round(2) }}{{ 2.5|round }}{{ 3.5|round }}{{ 2.1|round(0, 'ceil') }}|{{ lst|sum }}{{ lst|min }}{{ lst|max }}{{ words|min }}"),
    ("f_sort", "{{ words|sort }}|{{ words|sort(case_sensitive=true) }}|{{ lst|sort(reverse=true) }}|{{ words|unique|list }}|{{ lst|reverse|list }}|{{ 'abc'|reverse }}|{{ d|dictsort }}"),
    ("f_escape_wordcount", "{{ '<a href=\"x\">&\\'</a>'|e }}|{{ 'one two, three'|wordcount }}|{{ '%s=%s'|format('k', 1) }}"),
    # tests
    ("tests", "{{ n is number }}{{ t is number }}{{ f is integer }}{{ n is integer }}{{ t is boolean }}{{ s is string }}{{ d is mapping }}{{ lst is mapping }}{{ s is iterable }}{{ d is iterable }}{{ n is iterable }}{{ missing is iterable }}{{ none is none }}{{ missing is defined }}{{ missing is undefined }}{{ t is true }}{{ 0 is false }}{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ n is not none }}{{ lst is sequence }}{{ s is lower }}{{ 'A' is upper }}{{ 3 is gt 2 }}{{ 2 is in lst }}{{ raise_exception is callable }}"),
    # methods
    ("str_methods", "[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxhixx'.strip('x') }}][{{ 'a,b,,c'.split(',') }}][{{ ' a  b\\tc\\n'.split() }}][{{ 'a b c'.split(' ', 1) }}][{{ 'a b c'.rsplit(' ', 1) }}][{{ s.startswith('  He') }}][{{ s.endswith(('x', '  ')) }}][{{ s.replace('l', 'L') }}][{{ s.upper() }}][{{ s.lower() }}][{{ 'hello wORLD'.title() }}][{{ 'hello'.capitalize() }}][{{ s.find('o') }}][{{ s.count('l') }}][{{ '-'.join(['a', 'b']) }}][{{ 'x{}y{}z{k}'.format(1, 2, k=3) }}][{{ '{1}{0}'.format('a', 'b') }}][{{ '12'.isdigit() }}][{{ 'a\\nb\\r\\nc'.splitlines() }}]"),
    ("dict_methods", "{{ d.keys()|list }}|{{ d.values()|list|length }}|{{ d.get('b') }}{{ d.get('z') }}{{ d.get('z', 5) }}|{{ lst.index(2) }}{{ lst.count(3) }}"),
    # subscripts and slices
    ("subscripts", "{{ messages[0].role }}|{{ messages[-1]['role'] }}|{{ d.a[1] }}|{{ d['c'].k }}|{{ lst[1:] }}|{{ lst[:-1] }}|{{ lst[::-1] }}|{{ lst[::2] }}|{{ s[2:7] }}|{{ u[1:3] }}|{{ 'abc'[-1] }}|{{ lst[5:] }}|{{ lst[-10:1] }}|{{ d.a.0 }}"),
    # loops
    ("loop_vars", "{% for x in lst %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}][{{ loop.nextitem }}]{{ loop.cycle('a', 'b') }};{% endfor %}"),
    ("loop_else_filter", "{% for x in empty %}no{% else %}empty{% endfor %}|{% for x in lst if x > 1 %}{{ x }}{{ loop.index }}{{ loop.last }},{% endfor %}|{% for x in lst if x > 5 %}{% else %}none{% endfor %}"),
    ("loop_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("loop_unpack_nested", "{% for k, v in [('a', 1), ('b', 2)] %}{% for c in k ~ v %}{{ c }}{{ loop.index }}{% endfor %};{% endfor %}{% for (a, b) in [[1, 2]] %}{{ a + b }}{% endfor %}"),
    ("loop_over_dict_string", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'h\u00e9' %}[{{ c }}]{% endfor %}|{% for x in missing %}x{% endfor %}"),
    ("range", "{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(5, 0, -2)|list }}"),
    # scoping
    ("set_scoping", "{% set x = 1 %}{% for i in lst %}{% set x = i %}{{ x }}{% endfor %}|{{ x }}|{% if t %}{% set y = 5 %}{% endif %}{{ y }}"),
    ("namespace", "{% set ns = namespace(found=false, count=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.found }}{{ ns.count }}"),
    ("set_tuple_block", "{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set blk %}  inner {{ n }}  {% endset %}[{{ blk }}]|{% set up | upper %}abc{% endset %}{{ up }}"),
    ("with_filter_block", "{% with a = 3, b = 4 %}{{ a * b }}{% endwith %}[{{ a }}]|{% filter upper %}hi {{ s|trim }}{% endfilter %}"),
    ("loop_scope_reads_outer", "{% set base = 10 %}{% for i in lst %}{{ base + i }},{% endfor %}"),
    # macros
    ("macro_basic", "{% macro greet(name, greeting='Hi') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }}|{{ greet('Bob', 'Yo') }}|{{ greet(greeting='Hey', name='Cy') }}|{{ greet() }}"),
    ("macro_recursive", "{% macro render(v, depth) %}{% if v is mapping %}{% for k, x in v|items %}{{ k }}:({{ render(x, depth + 1) }}){% endfor %}{% elif v is iterable and v is not string %}[{% for x in v %}{{ render(x, depth + 1) }}{% endfor %}]{% else %}{{ v }}@{{ depth }}{% endif %}{% endmacro %}{{ render(d, 0) }}"),
    ("macro_sees_globals", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ n }}{% endmacro %}{{ m() }}"),
    # generation-style templates
    ("strftime", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %d, %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %j') }}"),
    ("dict_literal", "{% set x = {'a': 1, 'b': [1, 2], 'c': {'d': none}} %}{{ x }}|{{ x.b[1] }}|{{ x|tojson }}"),
    # a.b finds a dict's method before its key of the same name; a['b'] the key first.
    ("dict_method_vs_key", "{% set sch = {'type': 'array', 'items': {'type': 'string'}, 'get': 1} %}{{ sch.items is defined }}{{ sch['items'] }}{{ sch['get'] }}{{ sch.get('type') }}{{ sch.items is callable }}{{ sch.pop is defined }}[{{ sch.pop }}]{{ sch.keys()|list }}{{ sch.values is defined }}{{ 'x'.upper is defined }}{{ sch.nokey is defined }}{{ sch['keys'] is defined }}"),
    ("err_unsafe_attr_call", "{% set d = {'a': 1} %}{{ d.pop('a') }}"),
    ("attr_item_fallback", "{{ messages[2].tool_calls[0].function.arguments.city }}|{{ messages[2]['tool_calls'][0]['function']['name'] }}"),
    ("message_equality", "{% for m in messages %}{% if m == messages[-1] %}last:{{ m.role }}{% endif %}{% endfor %}"),
    # errors the template raises
    ("raise", "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}x"),
    ("raise_nonstring", "{{ raise_exception(42) }}"),
    # runtime errors (only the failure is compared, not the message)
    ("err_undefined_attr", "{{ missing.x }}"),
    ("err_append", "{% set l = [] %}{{ l.append(1) }}"),
    ("err_concat_types", "{{ 'a' + 1 }}"),
    ("err_none_iter", "{% for x in none %}{% endfor %}"),
    # jinja2 3.x looks up a filter or test inside an if-branch only when the branch runs.
    ("unknown_filter_unused_branch", "{% if false %}{{ x|nosuchfilter }}{% endif %}ok"),
    ("err_unknown_filter", "{{ x|nosuchfilter }}"),
    ("err_unknown_test", "{{ x is nosuchtest }}"),
    ("err_syntax_unclosed", "{% if t %}x"),
    ("err_syntax_bad_expr", "{{ 1 + }}"),
    ("err_div_zero", "{{ 1 // 0 }}"),
    ("err_set_attr_non_namespace", "{% set x = {} %}{% set x.a = 1 %}"),
    ("err_range_too_big", "{{ range(200000)|length }}"),
    ("err_include", "{% include 'other.jinja' %}"),
]


# Chats for the longer, real-world-style templates in templates/ (written after Qwen3's,
# Mistral's tool-calling and Hermes' tool-use templates).
CHAT = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "add_generation_prompt": True,
    "enable_thinking": False,
    "documents": None,
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city.  ",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": " The city. "},
            "days": {"type": "integer", "description": "Days ahead"},
            "units": {"type": ["string", "number"], "description": "Units"},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags"},
            "extra": {"type": "object", "additionalProperties": {"type": "number"},
                      "description": "Extra"}},
            "required": ["city"]},
        "return": {"type": "object"}}}],
    "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "<think>\nLook it up.\n</think>\n\nChecking.",
         "tool_calls": [{"id": "abcDEF123", "type": "function", "function": {
             "name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
        {"role": "tool", "tool_call_id": "abcDEF123", "content": "{\"temp\": 21.5}"},
        {"role": "tool", "tool_call_id": "abcDEF123", "content": "second"},
        {"role": "assistant", "content": "It is 21.5 \u00b0C."},
        {"role": "user", "content": "Thanks! \u00e9"},
    ],
}
CHAT_NO_TOOLS = dict(CHAT, tools=None)
# A tool call id the Mistral template refuses, and a "null" type that sends the Hermes macro into
# unbounded recursion (Python's RecursionError; the sandbox's macro depth limit here).
CHAT_BAD_ID = dict(CHAT, messages=CHAT["messages"][:3] + [
    dict(CHAT["messages"][3], tool_call_id="short")], tools=json.loads(json.dumps(CHAT["tools"])))
CHAT_BAD_ID["tools"][0]["function"]["parameters"]["properties"]["units"]["type"] = ["string", "null"]


def template_file_cases():
    here = os.path.dirname(os.path.abspath(__file__))
    cases = []
    for name in sorted(os.listdir(os.path.join(here, "templates"))):
        source = open(os.path.join(here, "templates", name), encoding="utf-8").read()
        stem = name.rsplit(".", 1)[0]
        for suffix, variables in (("", CHAT), ("_no_tools", CHAT_NO_TOOLS),
                                  ("_bad_id", CHAT_BAD_ID)):
            cases.append((stem + suffix, source, variables))
    return cases


def random_whitespace_cases(count, seed):
    """Templates mixing text, newlines, spaces and tags with every whitespace modifier."""
    rng = random.Random(seed)
    texts = ["", " ", "  ", "\n", " \n", "\n  ", "\t", "x", "x\n", " y ", "\n\n", "z \n\t "]
    opens = ["{% if t %}", "{%- if t %}", "{% if t -%}", "{%+ if t %}", "{%- if t -%}",
             "{% if t +%}"]
    closes = ["{% endif %}", "{%- endif %}", "{% endif -%}", "{%+ endif %}", "{% endif +%}"]
    atoms = ["{{ 'v' }}", "{{- 'v' }}", "{{ 'v' -}}", "{{- 'v' -}}", "{# c #}", "{#- c #}",
             "{# c -#}", "{% set q = 1 %}", "{%- set q = 1 -%}", "{% raw %} r {% endraw %}"]
    cases = []
    for i in range(count):
        out = []
        depth = 0
        for _ in range(rng.randint(3, 14)):
            out.append(rng.choice(texts))
            r = rng.random()
            if r < 0.25:
                out.append(rng.choice(opens))
                depth += 1
            elif r < 0.45 and depth > 0:
                out.append(rng.choice(closes))
                depth -= 1
            else:
                out.append(rng.choice(atoms))
        while depth > 0:
            out.append(rng.choice(texts))
            out.append(rng.choice(closes))
            depth -= 1
        out.append(rng.choice(texts))
        cases.append((f"ws_random_{i:03d}", "".join(out)))
    return cases


def main():
    env = make_env()
    results = []
    cases = [(n, t, None) for n, t in CASES + random_whitespace_cases(400, 17)]
    for name, template, variables in cases + template_file_cases():
        case = {"name": name, "template": template}
        if variables is not None:
            case["vars"] = variables
        try:
            case["expected"] = env.from_string(template).render(**(variables or VARS))
        except TemplateError as e:
            # raise_exception raises TemplateError itself; jinja's own errors are subclasses.
            case["error"] = str(e.message if hasattr(e, "message") else e)
            case["raised"] = type(e) is TemplateError
        except Exception as e:  # TypeError, ZeroDivisionError, OverflowError, ...
            case["error"] = f"{type(e).__name__}: {e}"
            case["raised"] = False
        results.append(case)
    json.dump({"jinja2": jinja2.__version__, "vars": VARS, "cases": results}, sys.stdout,
              ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
