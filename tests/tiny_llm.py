"""A real OpenAI-compatible chat server for tests: llama.cpp's server (`llama-cpp-python[server]`) serving a tiny
llama model with random weights, written here with the `gguf` package in well under a second.

Its replies are nonsense made of byte tokens and a few letters; which token ids spell digits is known, so a test
can push a reply towards numbers (the number check must catch them) or away from them (the reply is shown).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

WIDTH, LAYERS, HEADS, FEED_FORWARD, CONTEXT = 64, 2, 4, 128, 8192
SPECIAL = ["<unk>", "<s>", "</s>"]
BYTES = [f"<0x{b:02X}>" for b in range(256)]
WORDS = ["▁", *(f"▁{w}" for w in ("the", "a", "and", "role", "pay", "city", "skills", "data")),
         *"abcdefghijklmnopqrstuvwxyz"]
#: Token ids whose text is a digit (the byte tokens 0x30-0x39).
DIGIT_IDS = [len(SPECIAL) + b for b in range(0x30, 0x3A)]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}assistant:"
)


def write_model(path: Path, seed: int = 7) -> Path:
    """A llama-architecture GGUF with random weights and a byte-fallback vocabulary with no duplicate texts."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens = [*SPECIAL, *BYTES, *WORDS]
    types = ([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
             + [gguf.TokenType.BYTE] * len(BYTES) + [gguf.TokenType.NORMAL] * len(WORDS))  # fmt: skip
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(WIDTH // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(SPECIAL) + [-1000.0] * len(BYTES) + [-float(i) for i in range(len(WORDS))])
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_chat_template(CHAT_TEMPLATE)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    vocab = len(tokens)
    writer.add_tensor("token_embd.weight", weight(vocab, WIDTH))
    writer.add_tensor("output_norm.weight", np.ones(WIDTH, dtype=np.float32))
    writer.add_tensor("output.weight", weight(vocab, WIDTH))
    for i in range(LAYERS):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(WIDTH, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(WIDTH, WIDTH))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(WIDTH, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(FEED_FORWARD, WIDTH))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(FEED_FORWARD, WIDTH))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(WIDTH, FEED_FORWARD))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@contextlib.contextmanager
def serving(model: Path, port: int, alias: str = "tiny") -> Iterator[str]:
    """`python -m llama_cpp.server` on 127.0.0.1:`port`; yields its OpenAI base URL; stopped on exit."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", str(CONTEXT), "--model_alias", alias, "--n_threads", "1"]  # fmt: skip
    log = model.with_suffix(".log")
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {server.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as reply:
                    if alias in json.loads(reply.read())["data"][0]["id"]:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server did not answer in 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
