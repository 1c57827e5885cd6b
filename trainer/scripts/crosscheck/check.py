#!/usr/bin/env python3
"""Checks what LoRA Workbench produced (crosscheck/, made by prepare.sh) against the reference Python stack.

- logits of the base checkpoint (transformers, eager attention, fp32), of base + our PEFT adapter (PEFT), and of our
  merged export (transformers), against the workbench's own `logits` output: max |diff| <= 1e-4 of the logit range;
- our TensorBoard event files through TensorBoard's own EventAccumulator: scalar tags and steps, hparams, text;
- chat templates: transformers' apply_chat_template + tokenizer ids against the workbench's `data show --json`.

Needs torch, transformers, peft, safetensors, tensorboard (the GPU machines have them; no GPU needed):
    python3 trainer/scripts/crosscheck/check.py crosscheck [--out report.json]
Exit code 1 if any check fails. Prints one line per check and writes a JSON report.
"""
import argparse
import json
import pathlib
import sys


def conversations(path):
    """The multi-turn test file as chat messages, read the way the workbench's DatasetReader reads each format."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "messages" in row:
            out.append([{"role": m["role"], "content": m["content"]} for m in row["messages"]])
        elif "conversations" in row:
            roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
            out.append([{"role": roles[m["from"]], "content": m["value"]} for m in row["conversations"]])
        else:
            out.append([{"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["answer"]}])
    return out


def check_logits(root, results):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    ids = [int(x) for x in (root / "logits" / "ids.txt").read_text().split(",")]
    x = torch.tensor([ids])

    def load(path):
        return AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32, attn_implementation="eager").eval()

    def logits(model):
        with torch.no_grad():
            return model(x).logits[0].float()

    def compare(name, reference, ours_file):
        ours = load_file(str(ours_file))["logits"].float()
        err = (ours - reference).abs().max().item()
        span = reference.abs().max().item()
        results.append({"check": name, "passed": err <= 1e-4 * max(1.0, span), "max_abs_err": err, "logit_range": span})

    compare("logits: base checkpoint (transformers)", logits(load(root / "model")), root / "logits" / "base.safetensors")
    with_adapter = logits(PeftModel.from_pretrained(load(root / "model"), root / "run").eval())
    compare("logits: base + our adapter (PEFT)", with_adapter, root / "logits" / "adapter.safetensors")
    merged = logits(load(root / "merged"))
    compare("logits: our merged export (transformers)", merged, root / "logits" / "merged.safetensors")
    err = (merged - with_adapter).abs().max().item()
    results.append({"check": "merged export == PEFT's base + adapter", "passed": err <= 1e-4 * max(1.0, with_adapter.abs().max().item()),
                    "max_abs_err": err})


def check_events(root, results):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(root / "run"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    wanted = ["train/loss", "train/grad_norm", "train/learning_rate", "train/mean_token_accuracy", "eval/loss"]
    missing = [t for t in wanted if t not in tags.get("scalars", [])]
    steps = [e.step for e in acc.Scalars("train/loss")] if "train/loss" in tags.get("scalars", []) else []
    results.append({"check": "events: TensorBoard reads the scalar tags", "passed": not missing, "missing": missing, "tags": tags.get("scalars")})
    results.append({"check": "events: train/loss every 2 steps to 40", "passed": steps == list(range(2, 41, 2)), "steps": steps})
    hparams = acc.PluginTagToContent("hparams") if "hparams" in acc.ActivePlugins() else {}
    start = hparams.get("_hparams_/session_start_info")
    names = sorted(plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams.keys()) if start else []
    results.append({"check": "events: hparams session start with lora.r", "passed": "lora.r" in names, "hparams": names})
    text = acc.PluginTagToContent("text") if "text" in acc.ActivePlugins() else {}
    results.append({"check": "events: text plugin holds the recipe", "passed": any("recipe" in t for t in text), "text_tags": sorted(text)})


def check_templates(root, results):
    from transformers import AutoTokenizer

    convs = conversations(root / "tok" / "conversations.jsonl")
    for name in ["qwen2_5", "qwen3", "llama3", "r1"]:
        d = root / "tok" / name
        tok = AutoTokenizer.from_pretrained(d)
        template = (d / "chat_template.jinja").read_text(encoding="utf-8") if (d / "chat_template.jinja").exists() else None
        ours = [json.loads(l) for l in (d / "ours.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
        mismatches = []
        for i, messages in enumerate(convs):
            text = tok.apply_chat_template(messages, tokenize=False, chat_template=template)
            ids = tok(text, add_special_tokens=False).input_ids
            if i >= len(ours) or ids != ours[i]["ids"]:
                mismatches.append({"example": i, "transformers_text": text, "ours_text": ours[i]["text"] if i < len(ours) else None})
        results.append({"check": f"template {name}: apply_chat_template + tokenizer ids == ours", "passed": not mismatches,
                        "examples": len(convs), "mismatches": mismatches})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=pathlib.Path, help="the crosscheck/ folder prepare.sh wrote")
    parser.add_argument("--out", type=pathlib.Path, help="JSON report")
    args = parser.parse_args()
    results = []
    for part in (check_logits, check_events, check_templates):
        try:
            part(args.root, results)
        except Exception as e:  # one broken part must not hide the others
            results.append({"check": part.__name__, "passed": False, "error": repr(e)})
    for r in results:
        detail = {k: v for k, v in r.items() if k not in ("check", "passed", "mismatches")}
        print(("PASS " if r["passed"] else "FAIL ") + r["check"] + "  " + json.dumps(detail, ensure_ascii=False)[:300])
        for m in r.get("mismatches", [])[:2]:
            print("   example %d\n   transformers: %r\n   ours:         %r" % (m["example"], m["transformers_text"], m["ours_text"]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
