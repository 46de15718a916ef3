"""The debate's messages as templates (see :mod:`glasnost.service.messages`, which adds them to the
platform's): every refusal the debate raises, the places it names, and the calculator's reasons."""

from __future__ import annotations

__all__ = ["DEBATE_MESSAGES", "DEBATE_PLACES"]


def N_(message: str) -> str:  # noqa: N802 (the gettext convention)
    return message


DEBATE_MESSAGES: tuple[str, ...] = (
    # criticism
    N_("there is nothing of kind {kind} to discuss; choose one of {kinds}"),
    N_("a subject's reference has 1 to 200 characters"),
    N_("there is no such thing to discuss: {kind} {ref}"),
    N_("write 1 to {limit} characters"),
    N_("choose for, against or neutral"),
    N_("there is no comment {comment} under {subject}"),
    N_("there is no comment {comment} to reply to"),
    N_("give how many units, a number above 0"),
    N_("choose the product"),
    N_("choose how bad: minor, serious or unusable"),
    N_("there is no product {product}"),
    N_("{workplace} does not make {product}"),
    N_("no workplace is known to make {product}; nobody could answer"),
    N_("there is no criticism {criticism} addressed to a workplace"),
    N_("{username} holds no grant for workplace {workplace}; only its accounts answer"),
    N_("{workplace} has answered this already"),
    N_("there is no comment {comment}"),
    N_("comment {comment} is hidden already"),
    # initiative
    N_("choose between 1 and 365 days"),
    N_("choose a share above 0% and at most 100%"),
    N_("give a number"),
    N_("an amount is 0 or more"),
    N_("a share from 0% up to (not including) 100%"),
    N_("choose what to change: a product's amount or the investment reserve"),
    N_("the vote on this cycle is open or over; amendments close when the vote opens"),
    N_("there is no plan variant {variant}"),
    N_("{username} has signed amendment {amendment} already; one signature per member"),
    N_("there is no amendment {amendment}"),
    # the calculator (glasnost.compute.amend)
    N_("the economy cannot make {amount} of {commodity} a year: {why}"),
    N_("making {amount} of {commodity} a year would leave nothing for anything else in the plan"),
    N_("setting that much aside leaves nothing to make the plan with"),
    N_("{commodity} is not a good or a public good; only products have yearly amounts"),
    N_("the amount {amount} must be a finite number between 0 and 10^15"),
    N_("the investment share {share} must be at least 0 and below 1 (0.1 = 10%)"),
)

DEBATE_PLACES: tuple[str, ...] = (
    N_("subject"),
    N_("parent"),
    N_("position"),
    N_("text"),
    N_("what"),
    N_("units"),
    N_("severity"),
    N_("product"),
    N_("criticism"),
    N_("comment"),
    N_("reason"),
    N_("amendment"),
    N_("variant"),
    N_("commodity"),
    N_("amount"),
    N_("investment_percent"),
    N_("answer_days"),
    N_("quorum_percent"),
)
