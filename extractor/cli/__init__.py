"""The command line: typer commands over the library. The only place that prints."""

from __future__ import annotations

import typer

from extractor.cli.batch_cmd import batch_app
from extractor.cli.estimate_cmd import estimate_command
from extractor.cli.eval_cmd import compare_command, eval_command
from extractor.cli.extract_cmd import extract_command
from extractor.cli.inspect_cmd import doctor_command, preview_command, schema_command
from extractor.cli.serve_cmd import serve_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="extractor",
    help="Turn PDFs and images into validated, structured data with any OpenAI-compatible "
    "LLM, or the embedded local model when no API key is set.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("extract")(extract_command)
app.command("schema")(schema_command)
app.command("preview")(preview_command)
app.command("doctor")(doctor_command)
app.command("eval")(eval_command)
app.command("eval-compare")(compare_command)
app.command("serve")(serve_command)
app.command("estimate")(estimate_command)
app.add_typer(batch_app)


def main() -> None:
    """Console-script entry point."""
    app()
