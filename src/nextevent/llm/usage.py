"""Token and call accounting per role, for the run summary and ``usage.jsonl``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class RoleUsage:
    """What one role cost in one run.

    Attributes:
        requests: HTTP requests sent (tries, including retries and repair re-asks).
        answers: calls answered by the server with a valid answer.
        cache_hits: calls answered from the cache (no request).
        retries: tries repeated after a 429, a 5xx, a timeout or a broken body.
        repairs: repair re-asks after an answer that failed validation.
        failures: calls that ended in a recorded failure.
        prompt_tokens, completion_tokens: tokens the server reported for this run's
            requests.
        cached_tokens: prompt + completion tokens of the cached answers reused (saved).
    """

    requests: int = 0
    answers: int = 0
    cache_hits: int = 0
    retries: int = 0
    repairs: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass
class Usage:
    """`RoleUsage` per role name."""

    roles: dict[str, RoleUsage] = field(default_factory=dict)

    def __getitem__(self, role: str) -> RoleUsage:
        return self.roles.setdefault(role, RoleUsage())

    def total(self) -> RoleUsage:
        """All roles added up."""
        out = RoleUsage()
        for usage in self.roles.values():
            for name, value in asdict(usage).items():
                setattr(out, name, getattr(out, name) + value)
        return out

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{role: {field: count}}``, roles sorted by name."""
        return {role: asdict(self.roles[role]) for role in sorted(self.roles)}
