"""``python -m extractor.cli``: the command line."""

from extractor.cli import main

main()
