"""Domain errors of the plan engine.

    PlanError                 anything the engine refuses, with a field name when one is at fault
    ├── PolicyError           a policy file or value is invalid (file, key, reason)
    ├── CaseError             a case (loan or finances) is invalid (field, reason)
    └── NoPlanPossible        the request cannot yield a lawful plan (e.g. custom amount too low)

The dialogue maps these to message keys; the CLI prints them as one line.
"""

from __future__ import annotations


class PlanError(Exception):
    """Base of the engine's errors. `field` names what is at fault, when one thing is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class PolicyError(PlanError):
    """A policy file or value is invalid; the message names the file and key."""


class CaseError(PlanError):
    """A loan or the borrower's finances are invalid; the message names the field."""


class NoPlanPossible(PlanError):
    """No lawful plan answers this request; `key` is a message key for the conversation,
    `params` its values, and `reasons` (plans.models.Reason) each rule the request breaks."""

    def __init__(self, message: str, *, key: str, reasons: list | None = None, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params
        self.reasons = reasons or []
