"""The planning platform: councils plan together on the web.

A FastAPI application (:func:`glasnost.service.app.create_app`) over SQLAlchemy 2 (SQLite in WAL
mode by default, PostgreSQL by URL) with Alembic migrations, server-rendered pages (Jinja2, htmx,
uPlot) and a JSON API with an OpenAPI document. It stores, authorises and presents; the planning
is done by :mod:`glasnost.procedures` (the round engine) and :mod:`glasnost.compute` (plan
variants); every proposal, round result, plan variant and vote receipt goes to the public log
(:mod:`glasnost.ledger`).

Modules: :mod:`~glasnost.db.settings`, :mod:`~glasnost.db.engine` (engine, sessions and
the shared declarative ``Base``), :mod:`~glasnost.service.models`, :mod:`~glasnost.service.security`,
:mod:`~glasnost.service.planning` (cycles and rounds over the engine), ``routes/`` (one module per
area) and :mod:`~glasnost.service.cli` (``glasnost serve``, ``glasnost admin``).
"""
