"""Implementation control and open books: checking the plan as it is carried out.

* :mod:`~glasnost.control.reports`: implementation reports as arrays (output, capacity, inputs used,
  stocks, losses, deliveries to named receivers, receivers' confirmations, consumers' quality
  ratings); CSV files checked with every bad line named by line and column;
* :mod:`~glasnost.control.store` and :mod:`~glasnost.control.tables`: all-or-nothing import into the
  platform's database, each batch published to the public log (one entry per workplace and period);
* :mod:`~glasnost.control.reconcile`: shipments against receipts, material balances, inputs against
  the plan's technical coefficients; every mismatch with its size and parties;
* :mod:`~glasnost.control.fulfilment`: plan fulfilment in use value beside gross weight and value;
* :mod:`~glasnost.control.cyberstride`: the Harrison-Stevens multi-state filter and Beer's indices;
  :mod:`~glasnost.control.detect` (indicators, peers, evaluation) and :mod:`~glasnost.control.alerts`
  (to the workplace first, then public); :mod:`~glasnost.control.benford` (a reason to audit, never proof);
* :mod:`~glasnost.control.publish`: what planning publishes to the log; :mod:`~glasnost.control.remote`:
  ``glasnost verify URL``; :mod:`~glasnost.control.cli`: ``glasnost control``.

The log itself lives in :mod:`glasnost.ledger` and knows nothing of planning; this package does.
"""
