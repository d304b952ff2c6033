"""The Gradio web app: one module per panel, each with ``build()`` and ``wire()``."""

import os

# set before Gradio is imported or a page is built: the page sends no usage data and no version checks
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
