"""The ``glasnost`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from glasnost.clitools import console, friendly_errors, out, steps

if TYPE_CHECKING:
    import numpy as np
    from typer._click.core import Command

    from glasnost.compute import GrossOutput, HarmonyPlan, Plan, Values
    from glasnost.economy import Economy
    from glasnost.procedures import Participation
    from glasnost.report.html import HtmlReport

# ---- command groups beside their packages, imported when invoked --------------------------------


def _service_command(name: str) -> Callable[[], Command]:
    def build() -> Command:
        from glasnost.service import cli as service

        return _single_command(name, getattr(service, name), long_running=True)

    return build


def _single_command(name: str, function: Callable[..., Any], *, long_running: bool = False) -> Command:
    holder = typer.Typer(add_completion=False)
    holder.command(name)(friendly_errors(function, long_running=long_running))
    return typer.main.get_command(holder)


def _admin() -> Command:
    from glasnost.service.cli import admin_app

    return typer.main.get_group(admin_app)


def _control() -> Command:
    from glasnost.control.cli import app as control_app

    return typer.main.get_group(control_app)


def _simulate() -> Command:
    from glasnost.simulate.cli import register

    holder = typer.Typer(add_completion=False)
    register(holder)
    return typer.main.get_command(holder)


_LAZY_COMMANDS: dict[str, Callable[[], Command]] = {
    "serve": _service_command("serve"),
    "worker": _service_command("worker"),
    "simulate": _simulate,
}
"""Commands whose modules import heavy packages (the platform's SQLAlchemy): built on first use."""

_LAZY_GROUPS: dict[str, Callable[[], Command]] = {"admin": _admin, "control": _control}
"""Command groups built on first use, listed after the groups defined here."""


class _LazyGroup(TyperGroup):
    """The top-level group: ``glasnost values`` imports neither the platform (SQLAlchemy) nor
    the control and simulation command modules; ``glasnost --help`` builds them all to list
    them, in the order they were registered before (commands, then groups)."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        eager = super().list_commands(ctx)
        commands = [n for n in eager if not isinstance(self.commands[n], TyperGroup)]
        groups = [n for n in eager if isinstance(self.commands[n], TyperGroup)]
        lazy_commands = [n for n in _LAZY_COMMANDS if n not in self.commands]
        lazy_groups = [n for n in _LAZY_GROUPS if n not in self.commands]
        return [*commands, *lazy_commands, *groups, *lazy_groups]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Command | None:
        build = _LAZY_COMMANDS.get(cmd_name) or _LAZY_GROUPS.get(cmd_name)
        if cmd_name not in self.commands and build is not None:
            command = build()
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    help="glasnost: democratic economic planning.", no_args_is_help=True, add_completion=False, cls=_LazyGroup
)


def _load(directory: Path) -> Economy:
    from glasnost.economy import load

    return load(directory)


# ---- demo ---------------------------------------------------------------------------------


@app.command()
@friendly_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="where to write the report")] = Path("glasnost-demo"),
    seed: Annotated[int, typer.Option(help="seed of the bundled example economy")] = 1987,
) -> None:
    """Plan the bundled example economy: values, an optimal plan, a report in ./glasnost-demo/."""
    from glasnost.compute import gross_output, labour_values, optimal_plan
    from glasnost.data.demo import demo_economy
    from glasnost.economy import save
    from glasnost.procedures import participate as run_participation

    out_dir.mkdir(parents=True, exist_ok=True)
    from glasnost.report.plan import plan_report

    harmony = None
    with steps(8) as step:
        step("building the example economy")
        economy = demo_economy(seed)
        save(economy, out_dir / "economy")
        step("labour values")
        values = labour_values(economy)
        step("gross output for the targets")
        gross = gross_output(economy)
        step("optimal plan")
        plan = optimal_plan(economy, "scale")
        step("harmony plan")
        harmony = _harmony(economy)
        step("a participatory planning year (Hahnel's procedure, modelled councils)")
        year = run_participation(economy, procedure="hahnel", threshold=0.03, years=1, seed=seed)
        step("writing the report")
        report = plan_report(
            economy, plan, values, gross, harmony=harmony, title="glasnost demo: a plan for twenty sectors"
        )
        _participation_section(report, year)
        from glasnost.report.simulate import comparison_section
        from glasnost.simulate import demo_comparison

        comparison_section(report, demo_comparison())
        path = report.write(out_dir)
        step("publishing to the public log")
        log_file, key_file = _publish_demo(out_dir, economy, values, plan, year, seed)
    _print_plan_summary(economy, plan, values, harmony)
    history = year.years[0]
    out.print(
        f"Participatory year: {history.n_rounds} rounds of proposals, worst imbalance at the end "
        f"{100 * float(history.max_imbalance[-1]):.2f}% ({'converged' if year.converged else 'not converged'})"
    )
    out.print(f"\nReport: {path}\nEconomy saved to: {out_dir / 'economy'}")
    out.print(f"Public log: {log_file} (check it: glasnost verify {log_file} --key {key_file})")


def _participation_section(report: HtmlReport, year: Participation) -> None:
    from glasnost.report.rounds import imbalance_figure

    history = year.years[0]
    below = history.first_below(0.03)
    report.heading("A participatory planning year")
    report.paragraph(
        "Worker and consumer councils (modelled by Hahnel's Cobb-Douglas behaviour, derived from the economy's "
        "technology) propose at indicative prices; the facilitation board raises the price of goods in excess "
        "demand and lowers it for goods in excess supply, round by round, until every imbalance is below 3%. "
        + (
            f"Here that took {below} rounds."
            if below
            else f"Here the imbalances were still above 3% after {history.n_rounds} rounds."
        )
    )
    report.figure(
        imbalance_figure(year.years, title="Worst imbalance per round"),
        "imbalance",
        "Worst imbalance between supply and demand over all commodities, per round (log scale)",
    )


def _publish_demo(
    out_dir: Path, economy: Economy, values: Values, plan: Plan, year: Participation, seed: int
) -> tuple[Path, Path]:
    """Write the demo's entries to a fresh log, sign a checkpoint, export it for anyone to verify.

    The demo signs with a key derived from its seed so that a run is reproducible; a real
    planning body keeps a secret key (``glasnost.ledger.generate_signing_key``)."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from glasnost.control.publish import economy_entry, plan_entry, round_entries, values_entry
    from glasnost.ledger import Ledger, public_key_hex

    database = out_dir / "ledger.sqlite"
    for stale in out_dir.glob("ledger.sqlite*"):
        stale.unlink()
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"glasnost demo key {seed}".encode()).digest())
    key_file = out_dir / "ledger-key.pub"
    key_file.write_text(public_key_hex(key) + "\n")
    with Ledger.open(database) as log:
        log.append_many(
            [economy_entry(economy), values_entry(values), *round_entries(year.years[0]), plan_entry(economy, plan)]
        )
        log.checkpoint(key)
        export = log.export(out_dir / "ledger.jsonl")
    return export, key_file


def _harmony(economy: Economy) -> HarmonyPlan:
    from glasnost.compute import harmony_plan

    return harmony_plan(economy)


def _print_plan_summary(economy: Economy, plan: Plan, values: Values, harmony: HarmonyPlan | None = None) -> None:
    c = economy.commodities
    table = Table(title=f"Plan for '{economy.name}' ({plan.objective_kind} objective)")
    for col in ("product", "target", "planned net output", "labour value (h/unit)", "shadow price"):
        table.add_column(col, justify="right" if col != "product" else "left")
    for k, j in enumerate(c.produced):
        table.add_row(
            str(c.names[j]),
            f"{c.targets[j]:.3f}",
            f"{plan.net_output[j]:.3f}",
            f"{values.labour[k]:.4f}",
            f"{plan.prices[j]:.4f}",
        )
    out.print(table)
    out.print(
        f"Optimum: {plan.objective:.6g} ({plan.extra.get('status', '?')}; dual bound {plan.dual_bound:.6g}, "
        f"gap {plan.gap:.1e}, {plan.method}, {plan.seconds:.3f} s)"
    )
    if harmony is not None and plan.scale:
        from glasnost.compute.harmony import harmony as harmony_of

        targeted = c.targets > 0
        lp_harmony = float(harmony_of(plan.net_output[targeted] / c.targets[targeted] - 1.0).sum())
        out.print(
            f"Harmony algorithm (a different criterion): total harmony {harmony.harmony:.4g} against the "
            f"optimum's {lp_harmony:.4g}; its worst product gets {harmony.scale:.3g} of its "
            f"target (the optimum gives every product at least {plan.scale:.3g}): harmony trades the worst-off "
            "product for surpluses"
        )
    for i in c.labour:
        out.print(f"  {c.names[i]!s}: uses {-plan.net_output[i]:.4g} of {c.supply[i]:.4g} {c.units[i]!s}")


# ---- generate -------------------------------------------------------------------------------


@app.command()
@friendly_errors
def generate(
    n: Annotated[int, typer.Argument(help="number of products")],
    out_dir: Annotated[Path, typer.Option("--out", help="economy directory to write")],
    inputs: Annotated[int, typer.Option(help="inputs per product")] = 10,
    labour_types: Annotated[int, typer.Option(help="number of labour types")] = 3,
    processes: Annotated[int, typer.Option(help="processes per product (choice of technique)")] = 1,
    capacity_slack: Annotated[
        float | None, typer.Option(help="capacity = slack x gross output for the targets")
    ] = None,
    labour_slack: Annotated[float | None, typer.Option(help="labour supply = slack x labour the targets need")] = 1.2,
    zipf: Annotated[float, typer.Option(help="exponent of the supplier distribution")] = 1.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    councils: Annotated[int, typer.Option(help="consumer councils (for glasnost participate)")] = 0,
) -> None:
    """Generate a synthetic economy with a realistic structure (productive by construction)."""
    from glasnost.data.synthetic import generate as make
    from glasnost.economy import save

    if n < 1:
        raise ValueError("n must be at least 1")
    with steps(2) as step:
        step(f"generating {n:,} products")
        economy = make(
            n,
            inputs_per_product=inputs,
            labour_types=labour_types,
            processes_per_product=processes,
            capacity_slack=capacity_slack,
            labour_slack=labour_slack,
            zipf=zipf,
            seed=seed,
            councils=councils,
        )
        step("writing Parquet")
        save(economy, out_dir)
    out.print(f"wrote {out_dir}: " + ", ".join(f"{k} {v:,}" for k, v in economy.describe().items()))


# ---- values ---------------------------------------------------------------------------------


def _write_values(vals: Values, gross: GrossOutput, output: Path) -> None:
    """The values file: one row per product, its id, labour value, gross output and embodied
    primary inputs (no dictionary for the ids: each is unique)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from glasnost.economy.arrow import arrow_numbers, arrow_strings

    cols = {
        "commodity": arrow_strings(vals.ids),
        "labour_value": arrow_numbers(vals.labour),
        "gross_output": arrow_numbers(gross.gross),
    }
    for k, pid in enumerate(vals.primary_ids):
        cols[f"embodied:{pid}"] = arrow_numbers(vals.by_input[k])
    pq.write_table(pa.table(cols), output, use_dictionary=False)


def _values_in_one_process(
    directory: Path, method: str, mpi: bool, as_json: bool
) -> tuple[Values | None, GrossOutput | None, str]:
    """Load the whole economy (on every rank under MPI: version 1 directories) and solve."""
    from glasnost.compute import gross_output, labour_values

    if mpi:
        from glasnost.compute.mpi import gross_output_mpi, labour_values_mpi, mpi_rank

        if mpi_rank() != 0:  # every rank computes its blocks; rank 0 alone reports
            economy = _load(directory)
            labour_values_mpi(economy)
            gross_output_mpi(economy)
            return None, None, ""
        labour_values, gross_output = labour_values_mpi, gross_output_mpi  # type: ignore[assignment]
    with steps(3, quiet=as_json) as step:
        step("loading")
        economy = _load(directory)
        step("labour values")
        vals = labour_values(economy) if mpi else labour_values(economy, method=method)
        step("gross output")
        gross = gross_output(economy) if mpi else gross_output(economy, method=method)
    return vals, gross, economy.name


@app.command()
@friendly_errors
def values(
    directory: Annotated[Path, typer.Argument(help="economy directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    output: Annotated[Path | None, typer.Option("--out", help="write values to this Parquet file")] = None,
    method: Annotated[str, typer.Option(help="auto, direct, gmres or jacobi")] = "auto",
    mpi: Annotated[bool, typer.Option("--mpi", help="row blocks over MPI ranks (run under mpiexec -n N)")] = False,
) -> None:
    """Labour values (hours per unit) and gross output for the economy's targets."""
    from glasnost.economy.io import schema_version

    if mpi and schema_version(directory) >= 2:  # each rank reads only its block of the directory
        from glasnost.compute.mpi import mpi_rank
        from glasnost.compute.mpi_blocks import values_from_directory

        with steps(1, quiet=as_json or mpi_rank() != 0) as step:
            step("labour values and gross output, each rank reading its own rows")
            solution = values_from_directory(directory)
        if solution.values is None or solution.gross is None:
            return  # rank 0 alone reports
        vals, gross, name = solution.values, solution.gross, directory.name
    else:
        vals, gross, name = _values_in_one_process(directory, method, mpi, as_json)
        if vals is None or gross is None:
            return
    if output is not None:
        _write_values(vals, gross, output)
    if as_json:
        print(
            json.dumps(
                {
                    "labour_values": dict(zip(map(str, vals.ids), vals.labour.tolist(), strict=True)),
                    "gross_output": dict(zip(map(str, gross.ids), gross.gross.tolist(), strict=True)),
                    "primary_use": dict(zip(map(str, gross.primary_ids), gross.primary_use.tolist(), strict=True)),
                    "method": vals.report.method,
                    "residual": max(vals.report.residual, gross.report.residual),
                    "unit": "hours per unit of each product",
                }
            )
        )
        return
    table = Table(title=f"Labour values of '{name}' (hours per unit)")
    for col in ("product", "labour value", "gross output"):
        table.add_column(col, justify="right" if col != "product" else "left")
    shown = min(vals.ids.size, 25)
    for j in range(shown):
        table.add_row(str(vals.ids[j]), f"{vals.labour[j]:.6g}", f"{gross.gross[j]:.6g}")
    out.print(table)
    if vals.ids.size > shown:
        out.print(f"... {vals.ids.size - shown:,} more (use --out FILE.parquet for all)")
    out.print(
        f"solved by {vals.report.method}: {vals.report.iterations} iterations, "
        f"residual {vals.report.residual:.1e}, {vals.report.seconds + gross.report.seconds:.3f} s"
    )


# ---- import ---------------------------------------------------------------------------------


@app.command("import")
@friendly_errors
def import_tables(
    source: Annotated[
        Path | None,
        typer.Argument(help="BEA directory (make/use .rda or .xlsx) or a downloaded MRIO file/folder"),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="economy directory to write")] = Path("glasnost-economy"),
    fmt: Annotated[
        str, typer.Option("--format", help="bea, exiobase3, wiod, oecd, eora26, or test (pymrio's test system)")
    ] = "bea",
    level: Annotated[str, typer.Option(help="BEA: detail or summary")] = "detail",
    assumption: Annotated[str, typer.Option(help="BEA: industry or commodity technology")] = "industry",
    negatives: Annotated[str, typer.Option(help="negative coefficients: zero (set to 0, reported) or raise")] = "zero",
    labour: Annotated[str | None, typer.Option(help="MRIO: regex of the extension rows used as labour")] = None,
    year: Annotated[int | None, typer.Option(help="MRIO: year (WIOD, OECD, Eora26)")] = None,
) -> None:
    """Convert real input-output tables into an economy directory (with import-report.json)."""
    from glasnost.data.supply_use import symmetric, write_report
    from glasnost.economy import save

    with steps(3) as step:
        step("reading the tables")
        if fmt == "bea":
            from glasnost.data.bea import load_bea_dir

            if source is None:
                raise ValueError("give the directory of the BEA make and use tables")
            table = symmetric(load_bea_dir(source, level), assumption)  # type: ignore[arg-type]
        else:
            from glasnost.data.mrio import load_mrio

            table = load_mrio(source, fmt, labour=labour, year=year)
        step("building the economy")
        economy = table.to_economy(negatives=negatives, name=f"{fmt} {level if fmt == 'bea' else ''}".strip())  # type: ignore[arg-type]
        step("writing Parquet")
        save(economy, out_dir)
        write_report(economy, out_dir)
    info = economy._meta["import"]
    out.print(
        f"wrote {out_dir}: {info['products']} products ({info['assumption']} technology), spectral radius of A "
        f"{info['spectral_radius']:.4f}, {info['negative_coefficients']} negative coefficients"
        + (" set to zero" if info["negative_coefficients"] else "")
        + f", {len(info['products_without_labour'])} products without a labour figure; report: "
        f"{out_dir / 'import-report.json'}"
    )


# ---- sweep ----------------------------------------------------------------------------------


def _param_values(text: str) -> object:
    try:
        return float(text) if any(ch in text for ch in ".e") else int(text)
    except ValueError:
        return text


@app.command()
@friendly_errors
def sweep(
    directory: Annotated[Path, typer.Argument(help="economy directory")],
    task: Annotated[str, typer.Option(help="participate, plan or values")] = "participate",
    param: Annotated[
        list[str] | None, typer.Option(help="NAME=V1,V2,... (repeatable); every combination is run")
    ] = None,
    seeds: Annotated[int, typer.Option(help="run seeds 0..SEEDS-1 for every combination")] = 1,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (default: a local cluster)")] = None,
    workers: Annotated[int, typer.Option(help="local cluster worker processes")] = 2,
    output: Annotated[Path, typer.Option("--out", help="Parquet file of results")] = Path("sweep.parquet"),
) -> None:
    """Batch experiments on Dask: one task per parameter combination and seed, one Parquet table."""
    from rich.progress import Progress as _Progress

    from glasnost.sweeps import grid
    from glasnost.sweeps import sweep as run_sweep

    values: dict[str, list[object]] = {}
    for item in param or []:
        name, sep, vals = item.partition("=")
        if not sep or not name or not vals:
            raise ValueError(f"--param {item!r}: expected NAME=V1,V2,...")
        values[name.strip()] = [_param_values(v.strip()) for v in vals.split(",")]
    with _Progress(console=console, transient=True) as bar:
        job = bar.add_task(f"{task} sweep", total=None)
        table = run_sweep(
            task,
            directory,
            grid(**values) if values else [{}],
            range(seeds),
            scheduler=scheduler,
            workers=workers,
            out=output,
            progress=lambda done, total: bar.update(job, completed=done, total=total),
        )
    out.print(f"{table.num_rows} runs written to {output}")


# ---- plan -----------------------------------------------------------------------------------


@app.command()
@friendly_errors
def plan(
    directory: Annotated[
        Path,
        typer.Argument(
            help="economy directory, or a directory of 5yearplan tables (flows.csv, cap.csv, dep.csv, labtarg.csv)"
        ),
    ],
    objective: Annotated[str, typer.Option(help="scale, weighted or min_labour")] = "scale",
    method: Annotated[
        str, typer.Option(help="HiGHS method: choose, simplex, ipm, pdlp; or large (Leontief-structured, scale only)")
    ] = "choose",
    time_limit: Annotated[float | None, typer.Option(help="seconds")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    report_dir: Annotated[Path | None, typer.Option("--report", help="write an HTML report here")] = None,
    mpi: Annotated[bool, typer.Option("--mpi", help="method large, solves over MPI ranks (under mpiexec)")] = False,
) -> None:
    """An optimal plan (one period), or a multi-year plan for 5yearplan tables."""
    if (directory / "flows.csv").exists():
        _multi_year(directory, method, as_json)
        return
    from glasnost.compute import gross_output, labour_values, optimal_plan
    from glasnost.economy.io import schema_version

    if mpi and objective != "scale":
        raise ValueError("--mpi plans the scale objective only (method large)")
    if mpi and report_dir is None and schema_version(directory) >= 2:  # each rank reads only its block
        _plan_from_blocks(directory, as_json)
        return
    if mpi:  # every rank runs the rounds with its row blocks; rank 0 alone reports
        from glasnost.compute.mpi import large_plan_mpi, mpi_rank

        if mpi_rank() != 0:
            large_plan_mpi(_load(directory))
            return
    with steps(2, quiet=as_json) as step:
        step("loading")
        economy = _load(directory)
        step(f"solving ({objective})")
        if mpi:
            result = large_plan_mpi(economy)
        else:
            result = optimal_plan(economy, objective, method=method, time_limit=time_limit)  # type: ignore[arg-type]
    if as_json:
        _print_plan_json(result, economy.commodities.ids, economy.processes.ids)
        return
    vals = labour_values(economy)
    _print_plan_summary(economy, result, vals)
    if report_dir is not None:
        from glasnost.report.plan import plan_report

        path = plan_report(economy, result, vals, gross_output(economy)).write(report_dir)
        out.print(f"Report: {path}")


def _print_plan_json(result: Plan, commodity_ids: np.ndarray, process_ids: np.ndarray) -> None:
    print(
        json.dumps(
            {
                "objective": result.objective,
                "objective_kind": result.objective_kind,
                "scale": result.scale,
                "dual_bound": result.dual_bound,
                "gap": result.gap,
                "method": result.method,
                "seconds": result.seconds,
                "net_output": dict(zip(map(str, commodity_ids), result.net_output.tolist(), strict=True)),
                "prices": dict(zip(map(str, commodity_ids), result.prices.tolist(), strict=True)),
                "activity": dict(zip(map(str, process_ids), result.activity.tolist(), strict=True)),
            }
        )
    )


def _plan_from_blocks(directory: Path, as_json: bool) -> None:
    """``plan --mpi`` on a version 2 directory: each rank reads only its block of processes."""
    from glasnost.compute.largeplan_blocks import large_plan_from_directory
    from glasnost.compute.mpi import mpi_rank

    with steps(1, quiet=as_json or mpi_rank() != 0) as step:
        step("large plan, each rank reading its own processes")
        result = large_plan_from_directory(directory)
    if result is None:
        return  # rank 0 alone reports
    if as_json:
        _print_plan_json(result, result.commodity_ids, result.process_ids)
        return
    out.print(
        f"Optimum: {result.objective:.6g} complete sets of the targets ({result.extra['status']}; dual bound "
        f"{result.dual_bound:.6g}, gap {result.gap:.1e}, {result.method} over {result.extra['ranks']} ranks, "
        f"{result.seconds:.3f} s); --json for the whole plan"
    )


def _multi_year(directory: Path, method: str, as_json: bool) -> None:
    from glasnost.compute import multi_year_plan
    from glasnost.data.fiveyear import load_fiveyear

    tables = load_fiveyear(directory)
    result = multi_year_plan(
        tables.economy, tables.targets, tables.supply, initial_activity=tables.initial_activity, method=method
    )
    if as_json:
        print(
            json.dumps(
                {
                    "objective": result.objective,
                    "fulfilment": dict(zip(tables.years, result.fulfilment.tolist(), strict=True)),
                    "final_consumption": {
                        str(pid): result.final[:, j].tolist() for j, pid in enumerate(result.produced_ids)
                    },
                    "dual_bound": result.dual_bound,
                    "gap": result.gap,
                }
            )
        )
        return
    table = Table(title=f"{len(tables.years)}-year plan: final consumption per year")
    table.add_column("year", justify="left")
    table.add_column("fulfilment", justify="right")
    for pid in result.produced_ids:
        table.add_column(str(pid), justify="right")
    for t, year in enumerate(tables.years):
        table.add_row(year, f"{result.fulfilment[t]:.6g}", *(f"{v:.6g}" for v in result.final[t]))
    out.print(table)
    out.print(
        f"Objective (sum of yearly fulfilment): {result.objective:.6g}; dual bound {result.dual_bound:.6g}; "
        f"{result.n_variables} variables, {result.n_constraints} constraints"
    )


@app.command()
@friendly_errors
def migrate(directory: Annotated[Path, typer.Argument(help="economy directory")]) -> None:
    """Rewrite an economy directory in the current schema version (atomically, in place)."""
    from glasnost.economy import migrate as rewrite

    before, after = rewrite(directory)
    if before == after:
        out.print(f"{directory} is already schema version {after}: nothing to do")
    else:
        out.print(f"rewrote {directory}: schema version {before} -> {after}")


@app.command()
@friendly_errors
def info(directory: Annotated[Path, typer.Argument(help="economy directory")]) -> None:
    """Describe an economy directory."""
    economy = _load(directory)
    for key, value in economy.describe().items():
        out.print(f"{key}: {value:,}")


# ---- participate ----------------------------------------------------------------------------


def _participation_subject(source: Path):
    """An experiment file (.clj, .clj.gz, .edn) or a saved economy directory."""
    if source.is_dir():
        if (source / "hahnel-workers.parquet").exists():
            from glasnost.procedures import load_hahnel

            return load_hahnel(source)
        return _load(source)
    if not source.exists():
        raise FileNotFoundError(f"no such file or directory: {source}")
    from glasnost.data.pequod import load_experiment

    return load_experiment(source)


@app.command()
@friendly_errors
def participate(
    source: Annotated[Path, typer.Argument(help="experiment file (dep1exNN.clj.gz) or saved economy directory")],
    procedure: Annotated[str, typer.Option(help="hahnel or labour-time")] = "hahnel",
    threshold: Annotated[float, typer.Option(help="stop when every imbalance is below this, in percent")] = 3.0,
    years: Annotated[int, typer.Option(help="planning years (later years perturb the councils' exponents)")] = 2,
    seed: Annotated[int, typer.Option(help="seed of the random changes between years")] = 0,
    max_rounds: Annotated[int, typer.Option(help="round cap per year")] = 200,
    increasing_returns: Annotated[
        bool, typer.Option(help="Hahnel's increasing-returns variant (a fifth of worker councils)")
    ] = False,
    effort: Annotated[str, typer.Option(help="optimal, or published (the published program's effort)")] = "optimal",
    responsiveness: Annotated[
        float, typer.Option(help="labour-time: how far targets follow clearing price / value (0-1]")
    ] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="where to write rounds (Parquet) and the plot")] = Path(
        "glasnost-participate"
    ),
    mpi: Annotated[bool, typer.Option("--mpi", help="councils over MPI ranks (run under mpiexec -n N)")] = False,
) -> None:
    """Let councils draw up the plan: Hahnel's participatory procedure or the labour-time procedure."""
    from glasnost.procedures import PROCEDURES
    from glasnost.procedures import participate as run_procedure
    from glasnost.report.rounds import write_rounds

    if procedure not in PROCEDURES:
        raise ValueError(f"unknown procedure {procedure!r} (choose from {', '.join(PROCEDURES)})")
    if effort not in ("optimal", "published"):
        raise ValueError(f"unknown effort {effort!r} (optimal or published)")
    if not threshold > 0:
        raise ValueError(f"threshold must be above 0 percent, got {threshold}")
    quiet = False
    if mpi:  # every rank proposes for its councils; rank 0 alone reports
        from glasnost.compute.mpi import mpi_rank
        from glasnost.economy.io import schema_version
        from glasnost.procedures.mpi import participate_mpi as run_procedure  # type: ignore[assignment]

        quiet = mpi_rank() != 0
    if mpi and source.is_dir() and not (source / "hahnel-workers.parquet").exists() and schema_version(source) >= 2:
        subject = source  # each rank reads only its own worker councils
    else:
        subject = _participation_subject(source)

    def progress(year: int, rnd) -> None:
        if not (as_json or quiet):
            console.print(
                f"year {year} round {rnd.number:>3}: worst imbalance {100 * rnd.max_imbalance:9.4f}%"
                f"  ({1000 * rnd.seconds:.2f} ms)",
                highlight=False,
            )

    result = run_procedure(
        subject,
        procedure=procedure,  # type: ignore[arg-type]
        threshold=threshold / 100.0,
        years=years,
        seed=seed,
        max_rounds=max_rounds,
        effort=effort,  # type: ignore[arg-type]
        with_increasing_returns=increasing_returns,
        responsiveness=responsiveness,
        on_round=progress,
    )
    if quiet:
        return
    paths = write_rounds(result.years, out_dir, title=f"{procedure} on {source.name}")
    summary = result.summary()
    if as_json:
        print(json.dumps(summary))
        return
    table = Table(title=f"{procedure} procedure on {source.name} (threshold {threshold:g}%)")
    for col in ("year", "rounds", "converged", "worst imbalance %", "rounds to 5%", "rounds to 3%", "seconds"):
        table.add_column(col, justify="right")
    for y, year_summary in enumerate(summary["years"], start=1):  # type: ignore[arg-type]
        table.add_row(
            str(y),
            str(year_summary["rounds"]),
            "yes" if year_summary["converged"] else "no",
            f"{year_summary['max_imbalance_percent']:.4f}",
            str(year_summary["rounds_to_5_percent"] or "-"),
            str(year_summary["rounds_to_3_percent"] or "-"),
            f"{year_summary['seconds']:.3f}",
        )
    out.print(table)
    prices = summary["prices"]
    shown = list(prices.items())[:25]  # type: ignore[union-attr]
    out.print("Final prices: " + ", ".join(f"{k} {v:.6g}" for k, v in shown) + (" ..." if len(prices) > 25 else ""))
    out.print(f"Rounds and plot written to {out_dir} ({len(paths)} files)")


# ---- verify ---------------------------------------------------------------------------------


@app.command()
@friendly_errors
def verify(
    source: Annotated[
        str, typer.Argument(help="exported log (.jsonl), SQLite log file, postgresql:// URL, or http(s):// server")
    ],
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="the log's public key: 64 hex digits, or a file (hex or PEM); repeat for a "
                     "rotated key"),
    ] = None,
    receipt: Annotated[
        list[str] | None,
        typer.Option("--receipt", help="a leaf hash (64 hex digits) or receipt file (JSON, or JSON lines as "
                     "control import --receipts writes) whose entries must be in the log"),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None, typer.Option("--checkpoint", help="a checkpoint file kept from earlier (repeatable)")
    ] = None,
    schema: Annotated[str | None, typer.Option(help="PostgreSQL: the schema holding the log")] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option("--witness", help="a witness's verifier key (name+hash+key, or a file holding it); repeatable"),
    ] = None,
    quorum: Annotated[
        int | None, typer.Option(help="how many of the --witness keys must have cosigned the latest checkpoint "
                                      "(default: all)")
    ] = None,
    database: Annotated[
        str | None, typer.Option("--database", help="the platform's database (SQLAlchemy URL or SQLite file): its "
                                 "tables (report lines, cycles, proposals, round results, plan variants, the vote's "
                                 "rules, ballots, receipts and tally) are re-derived from this log and every row "
                                 "that differs, is missing or has no entry is named")
    ] = None,
) -> None:
    """Check a public log: every entry, checkpoint roots and signatures, coverage, consistency, receipts.

    Prints one line per problem (naming the entry, span or checkpoint). Exit codes: 0 everything
    holds and checkpoints signed by a given --key cover every entry; 1 a problem was found (or the
    log cannot be read); 3 no problem was found but no --key was given, so the log is
    unauthenticated (anyone could have written and signed it); 2 a mistake in the command line.
    With --witness keys, the latest checkpoint must carry cosignatures of --quorum of them (a
    log shown to you alone, a split view, gets none from witnesses that saw the other view).
    Needs no account. A server (``http://...``) is checked through its public endpoints.
    """
    from glasnost.control.remote import is_url, verify_remote
    from glasnost.ledger import verify_log

    keys = key or None
    if is_url(source):  # a running server, through its public endpoints
        report = verify_remote(source, public_key=keys, receipts=receipt or [], checkpoints=checkpoint or [],
                               witnesses=witness or [], quorum=quorum)
    else:
        report = verify_log(source, public_key=keys, receipts=receipt or [], checkpoints=checkpoint or [],
                            schema=schema, witnesses=witness or [], quorum=quorum)
    if database is not None:
        problems, pending = _bound_problems(source, schema, database)
        report.problems.extend(problems)
        report.notes.extend(pending)
    for problem in report.problems:
        typer.echo(str(problem))
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    typer.echo(report.summary())
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _bound_problems(source: str, schema: str | None, database: str) -> tuple[list, list[str]]:
    """The platform's tables (report lines, proposals, round results, plan variants, ballots, receipts,
    tallies) against the log being verified (a log database, or an export): the rows that differ,
    and notes on the rows not published yet (younger than the grace period)."""
    from glasnost.control.bindings import CONTROL_BINDINGS, ExportedEntries, check_bindings
    from glasnost.control.remote import is_url
    from glasnost.control.store import open_database
    from glasnost.ledger import Ledger
    from glasnost.ledger.store import is_database_url
    from glasnost.ledger.verify import SQLITE_MAGIC, Problem, read_export
    from glasnost.service.bindings import PLATFORM_BINDINGS

    if is_url(source):
        raise ValueError("--database re-derives the tables from a log file or database, not from a server's address")
    bindings = (*CONTROL_BINDINGS, *PLATFORM_BINDINGS)
    db = open_database(database, schema=schema)
    try:
        if is_database_url(source) or Path(source).read_bytes()[: len(SQLITE_MAGIC)] == SQLITE_MAGIC:
            with Ledger.open(source, schema=schema, create=False) as ledger:
                differences = check_bindings(ledger, db, bindings)
        else:
            differences = check_bindings(ExportedEntries(read_export(Path(source))), db, bindings)
    finally:
        db.dispose()
    problems = [Problem(f"{d.table} {d.row}" + ("" if d.entry is None else f" (log entry {d.entry})"), d.message,
                        d.entry) for d in differences if not d.pending]
    pending = [f"{d} (not counted as a problem: the platform publishes a row within seconds of storing it)"
               for d in differences if d.pending]
    return problems, pending


# ---- witness ---------------------------------------------------------------------------------

witness_app = typer.Typer(
    help="Witness a platform's public log from your own machine: cosign its checkpoints only when they extend "
    "the last one you cosigned, so a log shown differently to different councils is refused.",
    no_args_is_help=True, add_completion=False)
app.add_typer(witness_app, name="witness")

WitnessKeyOpt = Annotated[Path, typer.Option("--key", help="the witness's private key (PEM, from witness keygen)")]
WitnessNameOpt = Annotated[str, typer.Option("--name", help="the witness's name in its cosignatures, e.g. "
                                                            "council-7.example/witness")]
LogKeyOpt = Annotated[str, typer.Option("--log-key", help="the platform log's public key (hex, or a file)")]
OriginOpt = Annotated[str | None, typer.Option("--origin", help="the log's origin line (default: derived from "
                                                                "its key, as glasnost logs do)")]
StateOpt = Annotated[Path, typer.Option("--state", help="where the witness keeps the last checkpoint it cosigned")]


def _witness(key: Path, name: str, log_key: str, origin: str | None, state: Path):
    from glasnost.ledger import load_public_key, load_signing_key
    from glasnost.ledger.checkpoint import default_origin
    from glasnost.ledger.witness import Witness

    public = load_public_key(log_key)
    return Witness(name, load_signing_key(key), {origin or default_origin(public): public}, state)


@witness_app.command("keygen")
@friendly_errors
def witness_keygen(
    name: WitnessNameOpt,
    out_file: Annotated[Path, typer.Option("--out", help="private key file to write (its verifier key goes to "
                                                          "FILE.vkey)")] = Path("witness.key"),
) -> None:
    """Make a witness key; print the verifier key that others pass to glasnost verify --witness."""
    from glasnost.ledger import generate_signing_key, write_keypair
    from glasnost.ledger.note import COSIGNATURE, format_vkey

    if out_file.exists():
        raise ValueError(f"{out_file} exists already; a witness keeps its key")
    key = generate_signing_key()
    write_keypair(key, out_file)
    vkey = format_vkey(name, COSIGNATURE, key.public_key())
    out_file.with_name(out_file.name + ".vkey").write_text(vkey + "\n")
    out.print(f"wrote {out_file} (keep it secret) and {out_file}.vkey; your verifier key:\n{vkey}", soft_wrap=True)


@witness_app.command("cosign")
@friendly_errors
def witness_cosign(
    platform: Annotated[str, typer.Argument(help="the platform's address, e.g. https://plan.example.org")],
    key: WitnessKeyOpt,
    name: WitnessNameOpt,
    log_key: LogKeyOpt,
    state: StateOpt = Path("witness-state.json"),
    origin: OriginOpt = None,
    publish: Annotated[bool, typer.Option(help="hand the cosignature back to the platform")] = True,
) -> None:
    """Fetch the platform's latest checkpoint and a consistency proof, check them, cosign (exit 1 if refused)."""
    from glasnost.ledger.witness import WitnessRefusal, witness_platform

    witness = _witness(key, name, log_key, origin, state)
    try:
        cp, line = witness_platform(witness, platform, publish=publish)
    except WitnessRefusal as exc:
        console.print(f"[bold red]refused:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"cosigned {escape(cp.origin or '')} at size {cp.tree_size} ({cp.time})"
              + ("; handed back to the platform" if publish else ""), soft_wrap=True)
    typer.echo(line, nl=False)


@witness_app.command("serve")
@friendly_errors
def witness_serve(
    key: WitnessKeyOpt,
    name: WitnessNameOpt,
    log_key: LogKeyOpt,
    state: StateOpt = Path("witness-state.json"),
    origin: OriginOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 7380,
) -> None:
    """Run the witness as an HTTP service (C2SP tlog-witness: POST /add-checkpoint)."""
    from glasnost.ledger.witness import serve as serve_witness

    witness = _witness(key, name, log_key, origin, state)
    server = serve_witness(witness, host, port)
    console.print(f"witness {escape(name)} listening on http://{host}:{server.server_address[1]}/add-checkpoint",
                  highlight=False, soft_wrap=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # pragma: no cover
        pass
    finally:
        server.server_close()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
