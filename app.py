"""Start the sightline web app on the embedded defaults: the bundled demo model, on this machine.

    make run            # or: .venv/bin/python app.py
Environment: SIGHTLINE_MODEL (default demo/shapes), SIGHTLINE_DEVICE (auto), GRADIO_SERVER_NAME
(127.0.0.1; 0.0.0.0 in a container), GRADIO_SERVER_PORT (7860).
"""

from __future__ import annotations

import os

import sightline
from sightline.ui.app import build_app


def main() -> None:
    model = sightline.load(os.environ.get("SIGHTLINE_MODEL", "demo/shapes"), device=os.environ.get("SIGHTLINE_DEVICE", "auto"))
    app = build_app(model)
    app.queue().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )


if __name__ == "__main__":
    main()
