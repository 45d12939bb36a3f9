"""Headless check of the demo: the local model answers, JupyterLab comes up, the quickstart runs end to end.

    python scripts/demo_check.py            (what `make demo-check` runs)

Exits 0 only if all three hold. Uses its own config dir, so it never touches yours.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from jupyter_providers import local

    work = Path(tempfile.mkdtemp(prefix="demo-check-"))
    os.environ["JUPYTER_PROVIDERS_DIR"] = str(work / "providers")
    os.environ.setdefault("JUPYTER_PROVIDERS_KEYRING", "0")
    server = local.start(detach=True)  # what `make demo` does first
    lab = None
    try:
        print(f"demo-check: the local model answers at {server.base_url}/v1")
        token, port = secrets.token_hex(8), local.free_port()
        allow_root = ["--allow-root"] if os.geteuid() == 0 else []
        lab = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", *allow_root, "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or lab.poll() is not None:
                print("demo-check: JupyterLab did not come up", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(f"demo-check: JupyterLab answers at http://127.0.0.1:{port}/lab/tree/notebooks/quickstart.ipynb")
        out = work / "quickstart.out.ipynb"
        result = subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
             "--ExecutePreprocessor.timeout=300", str(ROOT / "notebooks" / "quickstart.ipynb"), "--output", str(out)],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            print(f"demo-check: the quickstart failed:\n{result.stderr[-3000:]}", file=sys.stderr)
            return 1
        text = out.read_text()
        if "smollm2" not in text or "jp-providers-reply" not in text:
            print("demo-check: the quickstart ran but shows no model reply", file=sys.stderr)
            return 1
        print("demo-check: quickstart.ipynb ran end to end; the local model answered %%chat")
        return 0
    finally:
        if lab is not None:
            lab.terminate()
            lab.wait(15)
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
