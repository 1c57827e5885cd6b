#!/usr/bin/env python3
"""Golden values for the 8-bit AdamW test (AdamW8bitTest), computed by bitsandbytes' own reference code.

The functions below are bitsandbytes' pure-torch paths, transcribed from bitsandbytes-foundation/bitsandbytes at commit
95f9af3 (2026-08-19): functional.create_dynamic_map, the default backend's quantize_blockwise / dequantize_blockwise
(backends/default/ops.py) and the CPU backend's _optimizer_update_8bit_blockwise_cpu, branch "adam"
(backends/cpu/ops.py), with bitsandbytes' state layout from optim/optimizer.py (Optimizer2State.init_state: blocks of
256, qmap1 = signed dynamic map, qmap2 = unsigned, zeroed codes and scales; tensors under min_8bit_size = 4096 keep
fp32 state and go through optimizer_update_32bit, which computes torch.optim.AdamW's update).

Inputs are made from integers only, so Java builds the same fp32 values. Run with Debian's torch
(apt-get install python3-torch; /usr/bin/python3 trainer/scripts/golden/adamw8bit.py > trainer/src/test/resources/golden/adamw8bit.json).
"""
import base64
import json
import math

import torch


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(
            2 ** (i + non_sign_bits - max_exponent_bits) + 1
            if signed
            else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1,
        )
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    if additional_items > 0:
        boundaries = torch.linspace(0.1, 1, additional_items + 1, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    assert len(data) == 2**total_bits
    gap = 256 - len(data)
    for i in range(gap):
        data.append(0)
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def quantize_blockwise(A, code, blocksize):
    A_flat = A.reshape(-1).float()
    n = A_flat.numel()
    rem = n % blocksize
    full = n - rem
    blocks = full // blocksize
    A_com = A_flat[:full].reshape(blocks, blocksize)
    absmax = A_com.abs().max(dim=-1)[0]
    scaled = torch.clamp(A_com * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = A_flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, am.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(A_flat[full:] / am, -1, 1)])
    bounds = (code[:-1] + code[1:]) / 2
    q = torch.bucketize(scaled, bounds, out_int32=True).to(torch.uint8)
    return q.reshape(A.shape), absmax


def dequantize_blockwise(A, absmax, code, blocksize):
    A_flat = A.reshape(-1)
    n = A_flat.numel()
    out = code[A_flat.to(torch.int64)]
    rem = n % blocksize
    if rem == 0:
        out = (out.reshape(-1, blocksize) * absmax.view(-1, 1)).reshape(n)
    else:
        full = n - rem
        blocks = full // blocksize
        out = torch.cat([(out[:full].reshape(blocks, blocksize) * absmax[:blocks].view(-1, 1)).reshape(full), out[full:] * absmax[blocks]])
    return out.reshape(A.shape)


def update_8bit_blockwise(g, p, state1, state2, beta1, beta2, eps, step, lr, qmap1, qmap2, absmax1, absmax2, weight_decay):
    blocksize = 256
    state1_fp32 = dequantize_blockwise(state1, absmax1, qmap1, blocksize)
    state2_fp32 = dequantize_blockwise(state2, absmax2, qmap2, blocksize)
    grad = g.float()
    p_fp32 = p.data.float()
    state1_fp32.mul_(beta1).add_(grad, alpha=1.0 - beta1)
    state2_fp32.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    correction1 = 1.0 - beta1**step
    correction2 = math.sqrt(1.0 - beta2**step)
    denom = (state2_fp32.sqrt() / correction2).add_(eps)
    if weight_decay > 0.0:
        p_fp32.mul_(1.0 - lr * weight_decay)
    p_fp32.addcdiv_(state1_fp32, denom, value=-lr / correction1)
    p.data.copy_(p_fp32)
    c1, a1 = quantize_blockwise(state1_fp32, qmap1, blocksize)
    c2, a2 = quantize_blockwise(state2_fp32, qmap2, blocksize)
    state1.copy_(c1)
    absmax1.copy_(a1)
    state2.copy_(c2)
    absmax2.copy_(a2)


# the test's inputs: integers only, divided once in double and rounded once to fp32 (Java does the same)
SIZES = [4100, 6144, 640]  # a partial last block; whole blocks; under min_8bit_size (fp32 state)
STEPS = 5
LR, WD, BETA1, BETA2, EPS = 1e-2, 0.01, 0.9, 0.999, 1e-8


def initial(n, t):
    return torch.tensor([((i * 31 + t * 7) % 1001 - 500) / 500.0 * 0.05 for i in range(n)], dtype=torch.float32)


def gradient(n, t, step):
    # mostly small, some blocks larger, an outlier every 97 values: blocks with different scales
    return torch.tensor([((i * 7919 + step * 104729 + t * 13) % 2001 - 1000) / 1000.0 * 1e-3 * (1 + (i // 256) % 5) * (50 if i % 97 == 0 else 1)
                         for i in range(n)], dtype=torch.float32)


def b64(t):
    return base64.b64encode(t.contiguous().numpy().tobytes()).decode()


def main():
    qmap1 = create_dynamic_map(signed=True)
    qmap2 = create_dynamic_map(signed=False)
    tensors = []
    for t, n in enumerate(SIZES):
        p = initial(n, t)
        if n >= 4096:
            blocks = (n // 256) + bool(n % 256)
            s1 = torch.zeros(n, dtype=torch.uint8)
            s2 = torch.zeros(n, dtype=torch.uint8)
            a1 = torch.zeros(blocks, dtype=torch.float32)
            a2 = torch.zeros(blocks, dtype=torch.float32)
            for step in range(1, STEPS + 1):
                update_8bit_blockwise(gradient(n, t, step), p, s1, s2, BETA1, BETA2, EPS, step, LR, qmap1, qmap2, a1, a2, WD)
            tensors.append({"size": n, "param": b64(p), "codes1": b64(s1), "absmax1": b64(a1), "codes2": b64(s2), "absmax2": b64(a2)})
        else:
            opt = torch.optim.AdamW([torch.nn.Parameter(p)], lr=LR, betas=(BETA1, BETA2), eps=EPS, weight_decay=WD)
            param = opt.param_groups[0]["params"][0]
            for step in range(1, STEPS + 1):
                param.grad = gradient(n, t, step)
                opt.step()
            tensors.append({"size": n, "param": b64(param.detach())})
    print(json.dumps({"source": "bitsandbytes 95f9af3 reference paths on torch " + torch.__version__, "lr": LR, "weight_decay": WD,
                      "steps": STEPS, "signed_map": b64(qmap1), "unsigned_map": b64(qmap2), "tensors": tensors}, indent=1))


if __name__ == "__main__":
    main()
