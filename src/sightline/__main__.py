"""``python -m sightline ...``: the same command line as ``sightline ...`` (see ``sightline.cli``)."""

from sightline.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
