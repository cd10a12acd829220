"""The piwik service's errors."""

from __future__ import annotations

from shared.errors import ForkliftError

__all__ = ["PiwikError", "UnknownSite", "BadDate", "BadPath", "BadLogFile", "MatomoError"]


class PiwikError(ForkliftError):
    """Base of the piwik service's errors."""


class UnknownSite(PiwikError):
    """The named site is not in the sites config."""

    exit_code = 2


class BadDate(PiwikError):
    """A date argument is malformed or a range is reversed."""

    exit_code = 2


class BadPath(PiwikError):
    """A path given on the command line is missing, a folder, or unreadable."""

    exit_code = 2


class BadLogFile(PiwikError):
    """A log file cannot be read: truncated archive, binary data, unknown format."""


class MatomoError(PiwikError):
    """Matomo refused or did not answer a request, after the allowed retries."""
