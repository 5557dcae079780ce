"""docs/cli.md, every command's ``--help``, generated from the commands themselves.

``python -m simcore.cli.reference --write`` rewrites docs/cli.md; without ``--write`` it
prints the page. A test checks that the shipped page has every command and option, so
none goes undocumented.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
WIDTH = 88  # the help text's width, fixed so that the page does not depend on a terminal

HEAD = """\
# Command reference

Every `supplyshock` command with its `--help`, as the installed version prints it. This
page is generated from the commands (`python -m simcore.cli.reference --write`; a test
checks that it lists every command and option); the guides explain what the commands are for:
[results.md](results.md) (`run`, `summarize`, `compare`, `verify`),
[report.md](report.md) (`report`, `sensitivity`), [stockpile.md](stockpile.md),
[scenarios.md](scenarios.md) (`validate`), [dataset.md](dataset.md) (`data`),
[model.md](model.md) ("Calibration": `backtest`), [scaling.md](scaling.md) (Dask).

Every command exits with status 0 on success, 2 on bad input (a message naming the file,
key or option and the fix, nothing half-written on disk), 1 where a check fails
(`verify`, `backtest`) or the disk is full, and 130 when interrupted.
"""


def _walk(command: click.Command, ctx: click.Context, path: list[str]):
    yield path, command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = click.Context(sub, info_name=name, parent=ctx,
                                    terminal_width=WIDTH, max_content_width=WIDTH)
            yield from _walk(sub, sub_ctx, [*path, name])


def reference_markdown() -> str:
    from simcore.cli import main

    # the group's context settings (``-h`` beside ``--help``), which the subcommands'
    # contexts inherit, as when the command runs
    root = click.Context(main, info_name="supplyshock", terminal_width=WIDTH,
                         max_content_width=WIDTH, **main.context_settings)
    parts = [HEAD]
    for path, command, ctx in _walk(main, root, ["supplyshock"]):
        name = " ".join(path)
        text = command.get_help(ctx).rstrip()
        parts.append(f"\n## `{name}`\n\n```\n{text}\n```\n")
    return "".join(parts)


def write() -> Path:
    PAGE.write_text(reference_markdown(), encoding="utf-8")
    return PAGE


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        print(f"wrote {write()}")
    else:
        sys.stdout.write(reference_markdown())
