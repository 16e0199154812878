#!/usr/bin/python3
"""PyTorch oracle: sentence embeddings of a sentence-transformers BERT model
folder, computed from token ids with plain torch operations, as
transformers' BertModel and sentence-transformers' Pooling / Dense /
Normalize modules compute them. It shares no code with the C engine: it
reads safetensors and the config files itself, so that the two can be
compared (docs/MODEL.md, "The PyTorch oracle").

  torch_reference.py MODEL_DIR IDS.jsonl OUT.npy [--token-embeddings OUT.jsonl]
                     [--float64] [--batch-size 32] [--threads 1]

IDS.jsonl holds one sequence a line, special tokens included: either a JSON
array of ids ([101, ..., 102]) or an object with an "ids" array (as in
tokens.jsonl of the reference outputs). OUT.npy receives the (n, dim)
embeddings, float32 (float64 with --float64). --token-embeddings writes the
last hidden state of every token, one {"token_embeddings": [[...], ...]}
object a line.

Runs with Debian's /usr/bin/python3 with python3-torch and python3-numpy.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---- safetensors ----------------------------------------------------------

_NP_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """name -> numpy array (BF16 widened to float32 exactly)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        dt = info["dtype"]
        buf = data[b:e]
        if dt == "BF16":
            u = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dt in _NP_DTYPES:
            arr = np.frombuffer(buf, dtype=_NP_DTYPES[dt])
        else:
            raise ValueError(f"{path}: tensor {name}: dtype {dt} not handled")
        out[name] = arr.reshape(shape)
    return out


# ---- configs --------------------------------------------------------------

def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def module_kind(type_name):
    cls = type_name.rsplit(".", 1)[-1]
    if cls in ("Transformer", "Pooling", "Dense", "Normalize"):
        return cls
    raise ValueError(f"unsupported module {type_name}")


def read_modules(model_dir):
    path = os.path.join(model_dir, "modules.json")
    if not os.path.exists(path):
        # sentence-transformers' default for a plain transformers folder.
        return [("Transformer", ""), ("Pooling", None)]
    return [(module_kind(m["type"]), m["path"]) for m in load_json(path)]


_POOL_ORDER = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]
_LEGACY = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
           "pooling_mode_mean_tokens": "mean",
           "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
           "pooling_mode_weightedmean_tokens": "weightedmean",
           "pooling_mode_lasttoken": "lasttoken"}


def pooling_modes(cfg):
    """The modes in concatenation order."""
    mode = cfg.get("pooling_mode")
    if mode is not None:
        return [mode] if isinstance(mode, str) else list(mode)
    # Legacy flags (sentence-transformers <= 5.3): the mean flag defaults to
    # true; with no flag true at all, mean.
    flags = {m: bool(cfg.get(k, k == "pooling_mode_mean_tokens")) for k, m in _LEGACY.items()}
    modes = [m for m in _POOL_ORDER if flags[m]]
    return modes or ["mean"]


# ---- the forward pass -----------------------------------------------------

def _gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTS = {
    "gelu": F.gelu,
    "gelu_python": lambda x: x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0))),
    "gelu_new": _gelu_tanh,
    "gelu_accurate": _gelu_tanh,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "gelu_10": lambda x: torch.clip(F.gelu(x), -10.0, 10.0),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "linear": lambda x: x,
}

DENSE_ACTS = {
    "torch.nn.modules.activation.Tanh": torch.tanh,
    "torch.nn.modules.linear.Identity": lambda x: x,
    "torch.nn.modules.activation.ReLU": F.relu,
    "torch.nn.modules.activation.GELU": F.gelu,
    "torch.nn.modules.activation.SiLU": F.silu,
}


class Bert:
    def __init__(self, folder, dtype):
        cfg = load_json(os.path.join(folder, "config.json"))
        if cfg.get("model_type") != "bert":
            raise ValueError("model_type is not bert")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("position_embedding_type is not absolute")
        self.cfg = cfg
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.heads = int(cfg.get("num_attention_heads", 12))
        self.layers = int(cfg.get("num_hidden_layers", 12))
        self.act = ACTS[cfg.get("hidden_act", "gelu")]
        w = read_safetensors(os.path.join(folder, "model.safetensors"))
        prefix = "" if "embeddings.word_embeddings.weight" in w else "bert."
        self.w = {}
        for name, arr in w.items():
            if not name.startswith(prefix):
                continue
            name = name[len(prefix):]
            # Checkpoints converted from TensorFlow name LayerNorm gamma/beta.
            name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
                "LayerNorm.beta", "LayerNorm.bias")
            self.w[name] = torch.from_numpy(np.array(arr, dtype=np.float64)).to(dtype)

    def ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"],
                            self.eps)

    def linear(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def forward(self, ids, mask):
        """ids, mask: (B, L) int64; returns the last hidden state (B, L, H)."""
        B, L = ids.shape
        w = self.w
        pos = torch.arange(L)
        types = torch.zeros_like(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + \
            w["embeddings.token_type_embeddings.weight"][types]
        x = x + w["embeddings.position_embeddings.weight"][pos].unsqueeze(0)
        x = self.ln(x, "embeddings.LayerNorm")
        H = x.shape[-1]
        d = H // self.heads
        # Padded keys get the most negative finite value (transformers' eager
        # mask); their softmax weight underflows to exactly 0.
        neg = torch.finfo(x.dtype).min
        add_mask = torch.where(mask[:, None, None, :] > 0, torch.zeros((), dtype=x.dtype),
                               torch.full((), neg, dtype=x.dtype))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def heads(t):
                return t.view(B, L, self.heads, d).transpose(1, 2)

            q = heads(self.linear(x, p + "attention.self.query"))
            k = heads(self.linear(x, p + "attention.self.key"))
            v = heads(self.linear(x, p + "attention.self.value"))
            scores = torch.matmul(q, k.transpose(-1, -2)) * (d ** -0.5) + add_mask
            probs = torch.softmax(scores, dim=-1)
            ctx = torch.matmul(probs, v).transpose(1, 2).reshape(B, L, H)
            x = self.ln(self.linear(ctx, p + "attention.output.dense") + x,
                        p + "attention.output.LayerNorm")
            h = self.act(self.linear(x, p + "intermediate.dense"))
            x = self.ln(self.linear(h, p + "output.dense") + x, p + "output.LayerNorm")
        return x


def pool(T, mask, modes):
    """sentence-transformers Pooling: T (B, L, H), mask (B, L)."""
    m = mask.unsqueeze(-1).to(T.dtype)
    out = []
    for mode in modes:
        if mode == "cls":
            first = mask.to(torch.int64).argmax(dim=1)
            out.append(T[torch.arange(T.shape[0]), first])
        elif mode == "max":
            out.append(T.masked_fill(m == 0, float("-inf")).max(dim=1).values)
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            s = (T * m).sum(dim=1)
            n = torch.clamp(m.sum(dim=1), min=1e-9)
            out.append(s / n if mode == "mean" else s / torch.sqrt(n))
        elif mode == "weightedmean":
            wts = torch.arange(1, T.shape[1] + 1, dtype=T.dtype).view(1, -1, 1) * m
            out.append((T * wts).sum(dim=1) / torch.clamp(wts.sum(dim=1), min=1e-9))
        elif mode == "lasttoken":
            L = T.shape[1]
            vals, idx = mask.flip(1).max(1)
            idx = torch.where(vals == 0, torch.full_like(idx, L - 1), idx)
            last = L - idx - 1
            out.append((T * m)[torch.arange(T.shape[0]), last])
        else:
            raise ValueError(f"unknown pooling mode {mode}")
    return torch.cat(out, dim=-1)


class SentenceModel:
    def __init__(self, model_dir, dtype):
        self.dense = []
        self.normalize = False
        self.modes = ["mean"]
        for kind, path in read_modules(model_dir):
            folder = os.path.join(model_dir, path) if path else model_dir
            if kind == "Transformer":
                self.bert = Bert(folder, dtype)
            elif kind == "Pooling":
                if path is not None:
                    self.modes = pooling_modes(load_json(os.path.join(folder, "config.json")))
            elif kind == "Dense":
                cfg = load_json(os.path.join(folder, "config.json"))
                w = read_safetensors(os.path.join(folder, "model.safetensors"))
                W = torch.from_numpy(np.array(w["linear.weight"], dtype=np.float64)).to(dtype)
                b = w.get("linear.bias")
                b = None if b is None or not cfg.get("bias", True) else \
                    torch.from_numpy(np.array(b, dtype=np.float64)).to(dtype)
                act = DENSE_ACTS[cfg.get("activation_function", "torch.nn.modules.activation.Tanh")]
                self.dense.append((W, b, act))
            elif kind == "Normalize":
                self.normalize = True

    def encode(self, seqs):
        L = max(len(s) for s in seqs)
        ids = torch.zeros((len(seqs), L), dtype=torch.int64)
        mask = torch.zeros((len(seqs), L), dtype=torch.int64)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s, dtype=torch.int64)
            mask[i, :len(s)] = 1
        T = self.bert.forward(ids, mask)
        x = pool(T, mask, self.modes)
        for W, b, act in self.dense:
            x = act(F.linear(x, W, b))
        if self.normalize:
            x = x / x.norm(p=2, dim=-1, keepdim=True).clamp_min(1e-12)
        return x, T


def read_ids(path):
    seqs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            v = json.loads(line)
            if isinstance(v, dict):
                v = v["ids"]
            if not v or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
                raise ValueError(f"{path}:{n}: not a non-empty array of integer ids")
            seqs.append(v)
    return seqs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("ids")
    ap.add_argument("out")
    ap.add_argument("--token-embeddings", metavar="OUT.jsonl")
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.float64 if a.float64 else torch.float32

    model = SentenceModel(a.model_dir, dtype)
    seqs = read_ids(a.ids)
    vocab = model.bert.w["embeddings.word_embeddings.weight"].shape[0]
    max_pos = model.bert.w["embeddings.position_embeddings.weight"].shape[0]
    for n, s in enumerate(seqs, 1):
        if min(s) < 0 or max(s) >= vocab or len(s) > max_pos:
            sys.exit(f"{a.ids}:{n}: ids outside the vocabulary ({vocab}) or longer than "
                     f"{max_pos} positions")

    # Length-sorted batches, as sentence-transformers' encode does.
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    emb = [None] * len(seqs)
    tok = [None] * len(seqs)
    with torch.no_grad():
        for start in range(0, len(order), a.batch_size):
            idx = order[start:start + a.batch_size]
            x, T = model.encode([seqs[i] for i in idx])
            for j, i in enumerate(idx):
                emb[i] = x[j].numpy()
                if a.token_embeddings:
                    tok[i] = T[j, :len(seqs[i])].numpy()
    out = np.stack(emb).astype(np.float64 if a.float64 else np.float32)
    np.save(a.out, out)
    if a.token_embeddings:
        with open(a.token_embeddings, "w", encoding="utf-8") as f:
            for t in tok:
                f.write(json.dumps({"token_embeddings": t.astype(np.float64).tolist()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
