"""Implementation control and open books: what planning publishes to the public log, and (to come)
implementation reports, their reconciliation and fulfilment in use value.

The log itself lives in :mod:`glasnost.ledger` and knows nothing of planning; this package does.
"""
