"""The platform's own messages as templates: every error message the service raises (``{name}``
stands for a value put in) and the words it puts into them, so that :func:`glasnost.service.i18n.localize`
can find the template a message was made from and give it in the member's language. A new message
the service raises belongs here (``tests/test_i18n.py`` fails until it is)."""

from __future__ import annotations

__all__ = ["MESSAGES", "N_", "PLACES", "WORDS"]


def N_(message: str) -> str:  # noqa: N802 (the gettext convention)
    """Mark a string for the catalogue without translating it here (it is translated where shown)."""
    return message


MESSAGES: tuple[str, ...] = (
    # accounts
    N_("log in first"),
    N_("only the facilitation board may do this"),
    N_("the server is busy checking passwords; try again in a few seconds"),
    N_("a user name is 1 to 64 letters, digits, '-', '_' or '.'"),
    N_("a password has 8 to 1024 characters"),
    N_("the user name {username} is taken"),
    N_("there is no account {username}"),
    N_("too many failed login attempts; try again in {seconds} s"),
    N_("wrong user name or password"),
    N_("you have no token {token}"),
    N_("kind {kind}: choose one of {kinds}"),
    N_("name what the grant is for (1 to 200 characters)"),
    N_("there is no grant {grant}"),
    # cycles and invitations
    N_("cycle {cycle} has no council {council}"),
    N_("there is no cycle {cycle}"),
    N_("give the cycle a name of 1 to 200 characters"),
    N_("threshold {threshold} must be between 0 and 1 (0.03 = 3%)"),
    N_("max_rounds {max_rounds} must be between 1 and 10000"),
    N_("a round deadline of {seconds} s: choose between 1 s and a year"),
    N_("role {role}: choose 'delegate', 'member' or 'workplace'"),
    N_("a delegate invitation names a council"),
    N_("a workplace invitation names the workplace (1 to 200 characters)"),
    N_("this invitation link is not valid"),
    N_("this invitation link has been used already"),
    N_("seats are taken by invitation in this cycle; ask the board"),
    N_("this seat is taken"),
    N_("choose an experiment file to upload"),
    # economies
    N_("{n} councils: choose between 1 and 1,000,000"),
    N_("no file was uploaded"),
    N_("is neither 'demo', 'generated:N', 'upload' nor an economy directory"),
    # proposals
    N_("an idempotency key has 1 to 100 characters"),
    N_("{username} is not a delegate of council {council}"),
    N_("no round is open in this cycle (the rounds have ended)"),
    N_("no round is open in this cycle"),
    N_("round {asked} is {state}; round {open} is open"),
    N_("round {round} is past its deadline and closing"),
    N_("round {round} closed while the proposal was on its way; the next round is open"),
    N_("round {round} is not open yet; round {last} is the latest"),
    N_("cycle {cycle} has no proposal {proposal}"),
    N_("cycle {cycle} has no round {round}"),
    N_("more than {limit} proposals in {window} s; wait a little"),
    N_("proposal {proposal} is stored but its public-log receipt was not written within {seconds} s; "
       "repeat the request later"),
    N_("the proposal is stored but not yet in the public log; repeat the request later"),
    N_("offers {commodity}, but it makes {product} only"),
    N_("a consumer council offers nothing; leave supply empty"),
    N_("asks for {commodity}, which is not a consumer good"),
    N_("asks for {cost} worth at the posted prices; its budget is {budget}"),
    N_("{what} must be an object mapping commodity ids to quantities"),
    N_("{what} names commodity {commodity}, which does not exist"),
    N_("{what} of {commodity} is {amount}; it must be a number >= 0"),
    N_("{what} of {commodity} is {amount}; it must be a finite number >= 0"),
    N_("{what} of {commodity} is {amount}; that is more than 10^15 units"),
    N_("limit {limit} must be between 1 and 10000"),
    # CSV
    N_("the CSV is empty; the header is commodity,supply,demand"),
    N_("the header must name commodity, supply and demand once each ({name} is {state})"),
    N_("{found} fields; the header has {wanted}"),
    N_("no commodity id"),
    N_("commodity {commodity} appears twice"),
    N_("{text} is not a number"),
    N_("{text}: a quantity is a finite number >= 0"),
    N_("the CSV has {what}; nothing was submitted (the council's proposal stands)"),
    N_("a field is longer than {limit} characters"),
    N_("malformed CSV ({problem})"),
    N_("the CSV file is not UTF-8 text (byte {byte})"),
    N_("the CSV body is not UTF-8 text (byte {byte})"),
    # forms
    N_("give a whole number"),
    N_("{text} is not a whole number"),
    N_("{value} is not between {low} and {high}"),
    N_("{text} is not a finite number"),
    N_("the form's CSRF token is missing or does not match; reload the page and try again"),
    N_("your proposal is empty: it asks for nothing and offers nothing"),
    # votes
    N_("the cycle is {status}; variants come after convergence"),
    N_("the variants are published already"),
    N_("publish the plan variants first"),
    N_("the vote has been opened already"),
    N_("this vote's ballot box is closed"),
    N_("no vote is open in this cycle"),
    N_("{username} is not a member of cycle {cycle}"),
    N_("approval is a list of variants and ranking a list of groups"),
    N_("{username} has voted already; one ballot per member"),
    N_("no ballot has this receipt code"),
    # the public log
    N_("the log is empty; there is no checkpoint yet"),
    N_("not a checkpoint and its cosignatures ({problem})"),
    N_("no such entry (the log has {size})"),
    N_("need 0 <= first <= second <= {size}, got {first} and {second}"),
    # implementation control
    N_("no alert {alert}"),
    N_("only the workplace's granted accounts (or the board) answer its alerts"),
    N_("{username} reports for no workplace; the board grants that"),
    N_("{username} reports for no workplace; ask the board to grant one"),
    N_("name the workplace this report is for"),
    N_("{username} does not report for {workplace}"),
    N_("a receipt is the entry's leaf hash: 64 hexadecimal digits"),
    N_("no entry of the public log has this leaf hash"),
)
"""Every message the service raises, as a template: ``{name}`` stands for a value put in."""

PLACES: tuple[str, ...] = (
    N_("council {council}"),
    N_("cycle {cycle}"),
    N_("vote {vote}"),
    N_("entry {index}"),
    N_("economy {source}"),
    N_("CSV line {line}"),
    N_("CSV line {line}, column {column}"),
    N_("CSV line {line}, column {column} ({what})"),
    N_("CSV"),
    N_("Idempotency-Key"),
    N_("account"),
    N_("ballot"),
    N_("council"),
    N_("deadline_seconds"),
    N_("economy file"),
    N_("file"),
    N_("grant"),
    N_("invitation"),
    N_("kind"),
    N_("limit"),
    N_("login"),
    N_("max_rounds"),
    N_("name"),
    N_("password"),
    N_("receipt"),
    N_("role"),
    N_("round"),
    N_("source"),
    N_("target"),
    N_("threshold"),
    N_("threshold_percent"),
    N_("token"),
    N_("upload"),
    N_("username"),
    N_("vote"),
    N_("workplace"),
    N_("proposal"),
)
"""Where an error is (``ServiceError.where``): a field's name or a place, as a template."""

WORDS: tuple[str, ...] = (
    N_("supply"),
    N_("demand"),
    N_("closed"),
    N_("not open yet"),
    N_("twice"),
    N_("missing"),
    N_("a header but no rows"),
    N_("no quantities"),
    N_("rounds"),
    N_("converged"),
    N_("voting"),
    N_("decided"),
)
"""Values the service puts into its messages that are words (translated where they appear whole)."""

from glasnost.service.debate.messages import DEBATE_MESSAGES, DEBATE_PLACES  # noqa: E402

MESSAGES = (*MESSAGES, *DEBATE_MESSAGES)
PLACES = (*PLACES, *DEBATE_PLACES)

# elections, recall and notifications (issue 18)
MESSAGES += (
    N_("there is no election {election}"),
    N_("there is no term {term}"),
    N_("post {post}: choose 'delegates' or 'manager'"),
    N_("only a workplace (a worker council) has a manager"),
    N_("an election to this post is under way already (election {election})"),
    N_("nominations to this election are closed"),
    N_("a statement has at most 500 characters"),
    N_("{username} is not a member of council {council}"),
    N_("{username} is a candidate already"),
    N_("{username} was not nominated in this election"),
    N_("this election is not open for voting"),
    N_("this term has ended"),
    N_("the recall vote on this term is open already"),
    N_("you have signed this petition already; one signature per member"),
    N_("{address} is not an email address"),
    N_("action {action}: choose 'call', 'member' or 'share'"),
    N_("action {action}: choose 'stand', 'nominate', 'accept' or 'vote'"),
    N_("enter the receipt code you were given when you voted"),
)
PLACES += (
    N_("election {election}"),
    N_("term {term}"),
    N_("action"),
    N_("candidate"),
    N_("election"),
    N_("email"),
    N_("post"),
    N_("recall_days"),
    N_("recall_share_percent"),
    N_("seats"),
    N_("statement"),
    N_("term"),
    N_("term_days"),
    N_("nomination_hours"),
    N_("voting_hours"),
)
