"""Log lines printed while `push` shows its progress bar land above it, whole."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.progress import Progress

from claybridge.cli.common import ConsoleSink, when


def test_a_log_line_prints_whole_above_a_live_bar() -> None:
    """A line written through the sink during a live progress bar is printed on its own
    line, not spliced into the bar."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, color_system=None)
    sink = ConsoleSink(console)
    with Progress(console=console, auto_refresh=False) as bar:
        task = bar.add_task("Pushing", total=10)
        bar.update(task, completed=3)
        bar.refresh()
        sink.write("2026-12-04T20:25:19Z [warning] delivery dead ")
        sink.write("delivery=dlv_1\n")
        bar.refresh()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", out.getvalue())
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    assert "2026-12-04T20:25:19Z [warning] delivery dead delivery=dlv_1" in lines


def test_times_print_in_one_format() -> None:
    """Tables show times as ISO 8601 UTC to the second, like the logs."""
    assert when("2026-12-04T21:25:19.123456+01:00") == "2026-12-04T20:25:19Z"
    assert when(None) == "-"
