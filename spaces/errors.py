"""Errors a user can cause; each message names the problem and what is valid.

`NasError` is the one base of every error of this project (spaces, nas, analysis): `except NasError`
catches what the toolkit raises on purpose and nothing else; the `nas` command prints it as one
line.
"""


class NasError(Exception):
    """Base of every error this project raises on purpose (bad input, a failed run, a storage
    outage)."""


class SpacesError(NasError):
    """Base of every user-facing error of the `spaces` package."""


class ConfigError(SpacesError, ValueError):
    """A config that cannot describe a network."""


class UnknownNameError(SpacesError, LookupError):
    """An unknown model or space name; the message lists close matches and the valid names."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


class SamplingError(SpacesError, RuntimeError):
    """A complexity band that cannot be filled; the message says what was tried and covered."""
