"""Prompt templates of the model-backed pipeline, one file per stage, overridable.

Each ``<stage>.txt`` holds a ``[system]`` section (optional) and a ``[user]`` section;
lines starting with ``#`` before the first section are comments. Values are filled in
with `string.Template` (``$caption``, ``${x}``; write ``$$`` for a literal ``$``). A
folder given with ``--prompts DIR`` replaces any template it holds a file of the same
name for; the others stay built in. A template's version (part of every cache key) is
a hash of its text, so editing a prompt asks the models again.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

from nextevent.records import NextEventError

PROMPT_NAMES: tuple[str, ...] = ("caption", "events", "causal", "split", "ground", "predict",
                                 "rewrite", "critique", "repair")
BUILTIN_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Prompt:
    """One template.

    Attributes:
        name: stage name (file stem).
        system: system message template, possibly empty.
        user: user message template.
        version: ``<name>:<first 12 hex digits of the SHA-256 of the file text>``.
        path: the file it came from.
    """

    name: str
    system: str
    user: str
    version: str
    path: Path

    def render(self, **values: object) -> tuple[str, str]:
        """``(system, user)`` with ``values`` filled in.

        Raises:
            NextEventError: stage ``prompts``, when the template uses a variable not given
                (the message names the file and the variable) or has a stray ``$``.
        """
        try:
            return (string.Template(self.system).substitute(values),
                    string.Template(self.user).substitute(values))
        except KeyError as err:
            raise NextEventError(
                "prompts", f"prompt {self.path} uses ${err.args[0]}, which stage {self.name} "
                f"does not provide (it provides: {', '.join(sorted(values))})",
                "use only the variables listed in the built-in template's comment") from None
        except ValueError as err:
            raise NextEventError("prompts", f"prompt {self.path}: {err}",
                                 "write $$ for a literal dollar sign") from None

    def messages(self, **values: object) -> list[dict[str, object]]:
        """Chat messages (system if any, then user) with ``values`` filled in."""
        system, user = self.render(**values)
        out: list[dict[str, object]] = []
        if system.strip():
            out.append({"role": "system", "content": system})
        out.append({"role": "user", "content": user})
        return out


def parse_template(name: str, text: str, path: Path) -> Prompt:
    """Read one template file's text.

    Raises:
        NextEventError: stage ``prompts``, when there is no ``[user]`` section or text
            outside the sections that is not a ``#`` comment.
    """
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        header = line.strip().lower()
        if header in ("[system]", "[user]"):
            current = header[1:-1]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            raise NextEventError("prompts", f"prompt {path}: text before the first [system] "
                                 f"or [user] line: {line.strip()[:60]!r}",
                                 "start the file with [system] or [user] (# comments allowed)")
    if "user" not in sections:
        raise NextEventError("prompts", f"prompt {path} has no [user] section",
                             "add a line [user] followed by the user message")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Prompt(name=name, system="\n".join(sections.get("system", [])).strip(),
                  user="\n".join(sections["user"]).strip(), version=f"{name}:{digest}",
                  path=path)


class Prompts:
    """The templates of a run: built-in ones, replaced by those in ``override_dir``.

    Args:
        override_dir: folder of ``<stage>.txt`` files (``--prompts``); None for built-ins.

    Raises:
        NextEventError: stage ``prompts``, when ``override_dir`` is not a folder, holds a
            ``.txt`` file named after no stage, or a template does not parse.
    """

    def __init__(self, override_dir: Path | None = None) -> None:
        self._prompts: dict[str, Prompt] = {}
        if override_dir is not None:
            override_dir = Path(override_dir)
            if not override_dir.is_dir():
                raise NextEventError("prompts", f"--prompts {override_dir} is not a folder",
                                     "pass a folder holding <stage>.txt templates")
            unknown = sorted(p.stem for p in override_dir.glob("*.txt")
                             if p.stem not in PROMPT_NAMES)
            if unknown:
                raise NextEventError(
                    "prompts", f"--prompts {override_dir} holds templates for no stage: "
                    f"{', '.join(unknown)}", f"name them after a stage: {', '.join(PROMPT_NAMES)}")
        for name in PROMPT_NAMES:
            path = BUILTIN_DIR / f"{name}.txt"
            if override_dir is not None and (override_dir / f"{name}.txt").is_file():
                path = override_dir / f"{name}.txt"
            self._prompts[name] = parse_template(name, path.read_text(encoding="utf-8"), path)

    def __getitem__(self, name: str) -> Prompt:
        return self._prompts[name]
