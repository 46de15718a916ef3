"""Debate: criticism (threaded public comments, quality complaints addressed to workplaces, their
answers, moderation that hides only with a public reason) and initiative (members' amendments to
plan variants, checked by the calculator, signed, and put on the ballot at a quorum).

Laid out as the platform's other domains: :mod:`.models` (tables), :mod:`.subjects` (what can be
discussed), :mod:`.criticism` and :mod:`.initiative` (plain service functions over the platform
and a session), :mod:`.routes` (pages and JSON). Every comment, answer, hiding and amendment is
appended to the public log.
"""
