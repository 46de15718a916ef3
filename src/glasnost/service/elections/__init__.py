"""Elections with open nomination, terms and recall (issue 18, items 1 and 2).

``models`` (tables), ``count`` (counting: Schulze, seq-Phragmén, recall majorities), ``secrecy``
(sealed ballot boxes and secret petition signatures), ``service`` (elections and terms), ``recall``
(petitions and recall votes), ``views`` and ``routes`` (pages and the API). See ``docs/elections.md``.

This module imports nothing, so that ``glasnost.service.models`` can register the tables by
importing :mod:`.models` alone.
"""
