"""The Gradio web app: one module per panel, each with ``build()`` and ``wire()``."""
