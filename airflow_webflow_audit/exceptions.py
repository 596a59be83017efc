"""Errors raised by the Webflow audit-log provider.

Every message says what to do next. None of them ever holds the API token: messages are built
from status codes, Webflow's own ``code``/``message`` (redacted) and the request path, never from
request headers.
"""

from __future__ import annotations

from airflow_webflow_audit.compat import AirflowException, AirflowFailException


class WebflowError(AirflowException):
    """Base class of every error this provider raises."""


class WebflowConfigurationError(WebflowError, AirflowFailException, ValueError):
    """Bad input or a bad connection, found before any request is sent.

    Fails the task without retries: the same input would fail the same way on every try.
    """


class WebflowAPIError(WebflowError):
    """Webflow answered with an error, or could not be reached.

    ``http_status`` is Webflow's answer (401, 404, ...), not ``status_code``: Airflow's own
    ``AirflowException.status_code`` is the status its API server answers with, and stays as it is.
    Every argument but the message is optional, so the error pickles and copies like any exception.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        api_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.api_message = api_message
        self.hint = hint


class WebflowRequestRejectedError(WebflowAPIError, AirflowFailException):
    """A 4xx answer that retrying cannot fix (400, 401, 403, 404, ...): fails the task without retries."""


class WebflowAuthError(WebflowRequestRejectedError):
    """401 or 403: the token is wrong, lacks ``workspace_activity:read``, or the plan is not Enterprise."""


class WebflowNotFoundError(WebflowRequestRejectedError):
    """404: the workspace id or slug does not exist for this token."""


class WebflowResponseError(WebflowAPIError, AirflowFailException):
    """Webflow answered with something this provider refuses to land, and asking again will not help.

    A body past the size cap (``max_response_mib``), or an event nested deeper than JSON Lines can
    carry here: landing it would mean changing or dropping it, so the task fails instead.
    """


class WebflowRetriesExhaustedError(WebflowAPIError):
    """A transient failure (429, 5xx, network, bad body) outlasted the retry budget."""

    def __init__(self, message: str, *, attempts: int | None = None, last_error: str | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error


class WebflowPagingError(WebflowError):
    """The pages of one pull do not add up to one consistent snapshot of the window."""


class WebflowWindowChangedError(WebflowPagingError):
    """Events appeared or vanished inside the part of the window that was already streamed.

    The events already handed out cannot be taken back, so the whole pull must start again (the
    operator does this for you by rewriting its temporary object).
    """


class WebflowFormatError(WebflowError, AirflowFailException):
    """The window's events cannot be written in the chosen ``file_format`` (e.g. text Parquet cannot hold).

    Retrying cannot help: the same events come back. Land the window as ``jsonl.gz``, which keeps
    every event exactly as the API sent it.
    """


class WebflowRangeIncompleteError(WebflowError):
    """A reconciled range still has windows missing, corrupt or overlapping: a gap is never green.

    Retryable: once the landing DAG has landed the missing windows, a retry passes.
    """


class WebflowLandingError(WebflowError):
    """The destination could not be written (missing bucket, no permission, storage unreachable).

    Raised before any API request when the destination fails its pre-check, and during a landing
    when storage fails; either way nothing of the failed write is visible.
    """


class WebflowLandingConflictError(WebflowLandingError):
    """Another landing of the same window created the key this one was creating, first.

    Retryable: the retry reads the window's parts again and lands only what they lack.
    """


class WebflowArchiveTamperedError(WebflowLandingError, AirflowFailException):
    """A landed part no longer matches its manifest, or its signature fails: the archive was changed.

    Fails without retries: a landing never builds on a part it cannot trust. Audit the range
    (``python -m airflow_webflow_audit.audit``) to see every window affected.
    """


class WebflowBaselineBehindError(WebflowError):
    """The monitoring baseline cannot reach the asked-for point yet: a window before it is not landed.

    Retryable: once the missing window lands (a backfill lands windows in any order), a retry learns it.
    """


class WebflowSigningError(WebflowError):
    """The signing key could not sign (a KMS that refused or is unreachable, a damaged answer).

    Retryable: a KMS outage passes. A part whose data object was created before its manifest could be
    signed is adopted by the next landing of its window.
    """


class WebflowWindowsNotLandedError(WebflowError):
    """Some of a task's windows did not land; the others did, and stay landed.

    Retryable: the retry pulls every window again, writes nothing for those already landed, and lands
    the rest. The message names each window that failed and why.
    """


class WebflowWindowsRefusedError(WebflowWindowsNotLandedError, AirflowFailException):
    """Every window that did not land failed for a reason a retry cannot mend (a tampered part, a
    rejected request): fails without retries, as one such window's own task would."""
