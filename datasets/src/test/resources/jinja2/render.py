"""Renders a chat template the way transformers' apply_chat_template does (an independent peer for our Jinjava rendering).

Environment as transformers.utils.chat_template_utils._compile_jinja_template: ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and loopcontrols; tojson without ASCII escaping; raise_exception and strftime_now globals.
Render kwargs as apply_chat_template: messages, tools=None, documents=None, add_generation_prompt, and the tokenizer's
special tokens map (only the tokens tokenizer_config.json sets).

usage: python3 render.py TOKENIZER_CONFIG_JSON < cases.json > renderings.json
  cases.json: [{"messages": [{"role": ..., "content": ...}], "add_generation_prompt": bool}, ...]
  output: one {"text": ...} or {"error": ...} per case; the template is tokenizer_config.json's chat_template.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def token_text(value):
    if isinstance(value, dict):
        return value.get("content")
    return value


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    special = {}
    for key in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        text = token_text(config.get(key))
        if text is not None:
            special[key] = text
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(config["chat_template"])
    out = []
    for case in json.load(sys.stdin):
        try:
            text = template.render(messages=case["messages"], tools=None, documents=None,
                                   add_generation_prompt=case["add_generation_prompt"], **special)
            out.append({"text": text})
        except jinja2.exceptions.TemplateError as e:
            out.append({"error": str(e)})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
