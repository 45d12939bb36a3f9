"""The installed llama.cpp binaries run on any x86-64 CPU with AVX2, whatever the build machine advertised.

A -march=native build on a Xeon with AVX-512 and AMX emits zmm and tile instructions; in a VM that does not
grant the tile state (or on an older CPU) the first completion dies with SIGILL. scripts/llama_cmake_args.sh
fixes the baseline; this test reads the machine code to prove the installed build honours it.
"""

from __future__ import annotations

import importlib.util
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

#: instructions beyond the x86-64 baseline (AVX2, FMA, F16C, BMI2): AVX-512 registers and masks, AMX tiles
BEYOND_BASELINE = re.compile(r"%zmm\d|%k[1-7]\b|\btile(?:zero|loadd|loaddt1|stored|release)\b|\bldtilecfg\b|\btdpb")


def _libraries() -> list[Path]:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.origin:
        pytest.skip("llama-cpp-python is not installed (the `local` extra)")
    libs = sorted((Path(spec.origin).parent / "lib").glob("libggml*.so"))
    assert libs, "llama_cpp/lib holds no libggml*.so"
    return libs


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the x86-64 baseline check")
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
def test_llama_cpp_uses_no_instruction_beyond_the_portable_baseline() -> None:
    seen_avx2 = False
    for lib in _libraries():
        asm = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True, check=True
        ).stdout
        found = sorted(set(BEYOND_BASELINE.findall(asm)))
        assert not found, f'{lib.name} uses {found[:5]}: rebuild with CMAKE_ARGS="$(sh scripts/llama_cmake_args.sh)"'
        seen_avx2 = seen_avx2 or "%ymm" in asm
    assert seen_avx2, "no AVX2 code found: the disassembly was not read (or the baseline dropped AVX2)"
