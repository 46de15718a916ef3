"""Notifications (issue 18, item 5): email over SMTP and a public Atom feed per cycle.

:func:`glasnost.service.notifications.service.notify` is what other parts call; ``models`` holds
the tables (importing nothing of the service, so that ``glasnost.service.models`` can register them).
"""
