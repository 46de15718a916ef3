"""``glasnost simulate``: regimes over years and seeds, named experiments, parameter sweeps.

Registered on the main command by :func:`register`; imports the report and rich only when a
command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from glasnost.simulate.params import Params, SimulationError

PIPE_CAPTION = (
    "one plant, 1,000 m of pipe a year, 100 workers: the heavy pipe weighs 1 t/m and gives 1 unit of use per "
    "metre, the light one is lighter and better (params lightness, betterness); 'chosen' is what the plant makes "
    "under each indicator"
)


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["ratchet=0.3", "closures=false"]`` -> dict; malformed items raise SimulationError."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SimulationError(f"--param {item!r}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def simulate_command(
    regimes: Annotated[
        str, typer.Option(help="comma-separated: command, market, democratic")
    ] = "command,market,democratic",
    years: Annotated[int, typer.Option(help="years to simulate")] = 40,
    seeds: Annotated[int, typer.Option(help="seeds 0..SEEDS-1")] = 5,
    out_dir: Annotated[Path, typer.Option("--out", help="directory for Parquet and the HTML report")] = Path(
        "glasnost-simulate"
    ),
    experiment: Annotated[
        str | None,
        typer.Option(help="a named experiment: pipe, ratchet, complexity, closures, audit, sensitivity"),
    ] = None,
    samples: Annotated[
        int, typer.Option(help="sensitivity: base sample of the Sobol' design (settings = samples x (parameters + 2))")
    ] = 64,
    param: Annotated[list[str] | None, typer.Option(help="NAME=VALUE (repeatable), see the report's table")] = None,
    sweep: Annotated[
        str | None, typer.Option(help="NAME=V1,V2,...: a sensitivity sweep of one parameter on all cores")
    ] = None,
    enterprises: Annotated[int | None, typer.Option(help="enterprises (default 50 per sector, 20 sectors)")] = None,
    workers: Annotated[int, typer.Option(help="processes (default: all cores)")] = 0,
    calibration: Annotated[bool, typer.Option(help="add the calibration table to the report")] = True,
    economy: Annotated[
        Path | None, typer.Option(help="economy directory whose technology the sectors use (default: the demo)")
    ] = None,
) -> None:
    """Run regimes on one economy year by year; Parquet and an HTML report with one band per regime."""
    import os

    import pyarrow.parquet as pq
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from glasnost.clitools import console, out
    from glasnost.report.simulate import experiment_report, simulation_report

    params = Params().with_(**parse_params(param))
    n_workers = workers or os.cpu_count() or 1
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    headline = None
    with Progress(*columns, console=console, transient=True) as bar:
        job = bar.add_task("runs", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        if experiment is not None:
            from glasnost.simulate.experiments import run_experiment

            bar.update(job, description=f"experiment {experiment}")
            extra: dict[str, Any] = {"samples": samples, "workers": n_workers} if experiment == "sensitivity" else {}
            table = run_experiment(experiment, params=params, seeds=list(range(seeds)), enterprises=enterprises,
                                   progress=progress, **extra)
            pq.write_table(table, out_dir / f"{experiment}.parquet")
            if experiment == "sensitivity":
                from glasnost.simulate.sensitivity import indices

                pq.write_table(indices(table), out_dir / "sensitivity-indices.parquet")
            if experiment == "pipe":
                from glasnost.simulate.experiments import pipe_plant

                plant = pipe_plant(params)
                pq.write_table(plant, out_dir / "pipe_plant.parquet")
                headline = (PIPE_CAPTION, plant)
            path = experiment_report(experiment, table, params, headline=headline).write(out_dir)
        elif sweep is not None:
            from glasnost.simulate.run import sweep as run_sweep

            name, sep, vals = sweep.partition("=")
            if not sep or not vals:
                raise SimulationError(f"--sweep {sweep!r}: expected NAME=V1,V2,...")
            regime_list = [r.strip() for r in regimes.split(",") if r.strip()]
            if len(regime_list) != 1:
                raise SimulationError("--sweep runs one regime: give --regimes with exactly one")
            bar.update(job, description=f"sweep {name}")
            table = run_sweep(name.strip(), [_value(v.strip()) for v in vals.split(",")], regime_list[0], years,
                              list(range(seeds)), params, enterprises=enterprises, workers=n_workers,
                              progress=progress)
            pq.write_table(table, out_dir / f"sweep-{name.strip()}.parquet")
            from glasnost.report.html import HtmlReport
            from glasnost.report.simulate import band_figure

            report = HtmlReport(f"glasnost simulate: sweep of {name.strip()} ({regime_list[0]})")
            relabelled = table.drop_columns(["regime"]).append_column(
                "regime", table.column("value")
            )
            for measure in ("output_true", "use_value", "concealment", "unemployment", "shortage"):
                report.figure(band_figure(relabelled, measure, measure), f"sweep-{measure}",
                              f"{measure} by {name.strip()}")
            path = report.write(out_dir)
        else:
            from glasnost.simulate.run import simulate

            regime_list = [r.strip() for r in regimes.split(",") if r.strip()]
            bar.update(job, description="regimes x seeds")
            loaded = None
            if economy is not None:
                from glasnost.economy import load

                loaded = load(economy)
            table = simulate(regime_list, years, seeds, params, enterprises=enterprises, workers=n_workers,
                             progress=progress, economy=loaded)
            pq.write_table(table, out_dir / "simulation.parquet")
            rows = None
            if calibration:
                from glasnost.simulate.calibrate import calibration_table, model_values

                bar.update(job, description="calibration targets")
                rows = calibration_table(model_values(params))
            path = simulation_report(table, params, calibration=rows).write(out_dir)
    if headline is not None:
        _print_table(out, *headline)
    out.print(f"{table.num_rows} rows written to {out_dir}; report: {path}")


def _print_table(out: Any, caption: str, table: Any) -> None:
    from rich.table import Table

    shown = Table(caption=caption)
    for name in table.column_names:
        shown.add_column(name, justify="left" if table.schema.field(name).type in ("string", "bool") else "right")
    for row in table.to_pylist():
        shown.add_row(*(f"{v:,.4g}" if isinstance(v, float) else str(v) for v in row.values()))
    out.print(shown)


def register(app: typer.Typer) -> None:
    """Add ``glasnost simulate`` to ``app``."""
    from glasnost.clitools import friendly_errors

    app.command("simulate")(friendly_errors(simulate_command))
