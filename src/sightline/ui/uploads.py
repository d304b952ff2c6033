"""Files the page takes from its components: only those a visitor uploaded, which Gradio keeps in its upload cache.

Gradio itself refuses other paths (see ``app.check_files_as_launched``); the handlers check again, so a path
that reaches them by another way is never read, sent to a model or deployed.
"""

from __future__ import annotations

import os

from gradio.utils import get_upload_folder, is_in_or_equal

from sightline.errors import InputError


def uploaded_file(path: str, what: str) -> str:
    """``path`` when it lies in Gradio's upload cache; otherwise ``InputError`` naming ``what`` and the reason.

    The message names the file only by its base name: a visitor never learns the server's folders.
    """
    if not is_in_or_equal(path, get_upload_folder()):
        raise InputError(f"{what} {os.path.basename(str(path))!r} was not uploaded through this page: "
                         "only files you upload here can be used.")
    return path
