"""What ``run`` shows: a rich progress bar with ETA per cell, messages, a summary table."""

from __future__ import annotations

from typing import Any


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class RunUI:
    def __init__(self, console=None, enabled: bool = True, speak: bool = True):
        """``enabled``: progress bar and summary; ``speak``: warnings (shown even when quiet,
        by one process only)."""
        from yonos_bench.core.console import console as make_console

        self.console = console or make_console(stderr=True)  # off a TTY: names never cut
        self.enabled = enabled
        self.speak = speak
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("elapsed"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
        else:
            self.progress = _NoProgress()

    def task(self, description: str, total: int, completed: int) -> Any:
        from rich.markup import escape

        if not self.enabled:
            return None
        return self.progress.add_task(escape(description), total=total, completed=completed)

    def progress_callback(self, description: str):
        """A ``(done, total)`` callback that draws its own bar with ETA (the metric pass of a
        cell, which on thousands of pairs takes longer than generating them); None when off."""
        if not self.enabled:
            return None
        state: dict[str, Any] = {}

        def update(done: int, total: int) -> None:
            if "task" not in state:
                state["task"] = self.task(description, total, 0)
            self.progress.update(state["task"], completed=done, total=total)

        return update

    def advance(self, task: Any, k: int) -> None:
        if self.enabled and task is not None:
            self.progress.advance(task, k)

    def tile_progress(self, description: str):
        """Context: tiled passes of large images (YONOS latent tiles, spandrel tiles) draw a
        ``tiles k/N`` bar with ETA, so an image that takes minutes shows it is moving."""
        from yonos_train.tiling import tile_progress

        return tile_progress(self.progress_callback(description) if self.enabled else None)

    def say(self, message: str) -> None:
        from rich.markup import escape

        if self.speak:
            self.console.print(f"[yellow]{escape(message)}[/yellow]", highlight=False, soft_wrap=True)

    def say_skipped(self, outcomes) -> None:
        """One line per metric that could not be computed (said even when quiet)."""
        unavailable = {m: why for o in outcomes for m, why in o.result.get("unavailable", {}).items()}
        for m, why in sorted(unavailable.items()):
            self.say(f"{m} not computed: {why}")

    def summary(self, outcomes, metric_ids: list[str]) -> None:
        from rich.markup import escape
        from rich.table import Table

        from yonos_bench.core.formatting import format_seconds, format_value

        table = Table(title="yonos-bench run", show_lines=False)
        for col in ("model", "steps", "status", "n", "s/img"):
            table.add_column(
                col, justify="left" if col in ("model", "status") else "right", no_wrap=col == "model"
            )
        shown = [m for m in metric_ids if any(m in o.result.get("metrics", {}) for o in outcomes)]
        for m in shown:
            lb = next(
                o.result["metrics"][m]["lower_better"] for o in outcomes if m in o.result.get("metrics", {})
            )
            table.add_column(f"{m} {'↓' if lb else '↑'}", justify="right")
        for o in outcomes:
            r = o.result
            cells = [
                escape(o.key.model),
                "–" if o.key.steps is None else str(o.key.steps),
                o.status + ("" if r.get("reportable", True) else " (limit)"),
                str(r.get("n", "")),
                format_seconds(r.get("timing", {}).get("seconds_per_image")),
            ]
            cells += [
                format_value(r["metrics"][m]["mean"]) if m in r.get("metrics", {}) else "–" for m in shown
            ]
            table.add_row(*cells)
        self.console.print(table)
        unavailable = {m: why for o in outcomes for m, why in o.result.get("unavailable", {}).items()}
        for m, why in sorted(unavailable.items()):
            self.console.print(
                f"[yellow]{escape(m)} not computed:[/yellow] {escape(why)}", highlight=False, soft_wrap=True
            )
        for o in outcomes:
            if not o.result.get("reportable", True):
                self.console.print(
                    f"[bold yellow]NOT REPORTABLE[/bold yellow] {escape(str(o.folder))}: "
                    f"{escape(o.result['not_reportable_reason'])}",
                    highlight=False,
                    soft_wrap=True,
                )
                break
        if outcomes:
            self.console.print(
                f"Results under {outcomes[0].folder.parent.parent.parent}", highlight=False, markup=False
            )
