"""Find the video file of an annotation under the ``--videos`` folder, and nothing outside it.

Lookup, in order, for an annotation with video id ``X``:

1. ``ann.video_ref`` when given: that path, relative to the videos folder.
2. ``X`` with any extension of `VIDEO_EXTENSIONS` (any case), at the path ``X`` names
   under the videos folder (``X`` may hold subfolders, e.g. NExT-QA's ``1025/5165003914``),
   else anywhere in its subfolders (YouCook2's ``raw_videos/<subset>/<recipe>/``).
   An id that already ends in a video extension (TACoS ``s30-d52.avi``) is tried as that
   file first, then as ``s30-d52`` with any extension.
3. ActivityNet ids: an id starting with ``v_`` is also tried without it (``v_abc`` ->
   ``abc.mp4``); an ``activitynet`` id lacking the prefix is also tried with it.

Among files of one name, extensions are preferred in `VIDEO_EXTENSIONS` order. Names are
compared after Unicode NFC normalisation, so a non-ASCII name matches however the file
system stores it.

Security: a video reference or id that is absolute or climbs out of the videos folder
(``../../etc/passwd``), and a file that is a symlink resolving outside it, raise
`NextEventError` (stage ``resolve``); nothing outside the folder is ever returned.
"""

from __future__ import annotations

import os
import posixpath
import re
import unicodedata
from pathlib import Path

from nextevent.records import Failure, NextEventError, VideoAnnotation

VIDEO_EXTENSIONS: tuple[str, ...] = (
    "mp4", "mkv", "webm", "avi", "mov", "m4v", "mpg", "mpeg", "flv", "ts", "3gp", "wmv",
)
"""Container extensions a video file may have (matched case-insensitively), by preference."""

_EXT_RANK = {ext: rank for rank, ext in enumerate(VIDEO_EXTENSIONS)}
_DRIVE = re.compile(r"^[A-Za-z]:")


class VideoIndex:
    """An index of the video files under one folder, built from one directory walk.

    Build it once per run and call `resolve` per annotation: each lookup is a few dict
    reads, whatever the number of files. Hidden files and folders (``.name``) are
    skipped; symlinked folders are not followed.

    Args:
        videos_dir: the folder holding the videos (searched with its subfolders).
        allow_outside_symlinks: return files that are symlinks resolving outside
            ``videos_dir`` (off: such a file raises `NextEventError`).

    Raises:
        NextEventError: stage ``resolve``, when ``videos_dir`` is not a folder.
    """

    def __init__(self, videos_dir: Path, *, allow_outside_symlinks: bool = False) -> None:
        videos_dir = Path(videos_dir)
        if not videos_dir.is_dir():
            raise NextEventError("resolve", f"videos folder {videos_dir} does not exist or is "
                                 "not a folder", "pass the folder that holds the video files "
                                 "with --videos")
        self.root = videos_dir.resolve()
        self.allow_outside_symlinks = allow_outside_symlinks
        self._by_path: dict[str, list[str]] = {}  # "sub/name" (no extension) -> files
        self._by_name: dict[str, list[str]] = {}  # "name" (no extension) -> files
        self._by_lower: dict[str, list[str]] = {}  # lower-case name -> files, for hints
        self._count = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for filename in sorted(filenames):
                stem, dot, ext = filename.rpartition(".")
                if not dot or not stem or filename.startswith(".") \
                        or ext.lower() not in _EXT_RANK:
                    continue
                rel = filename if rel_dir == "." else f"{rel_dir}/{filename}"
                name = _nfc(stem)
                key = name if rel_dir == "." else f"{_nfc(rel_dir)}/{name}"
                self._by_path.setdefault(key, []).append(rel)
                self._by_name.setdefault(name, []).append(rel)
                self._by_lower.setdefault(name.lower(), []).append(rel)
                self._count += 1
        for table in (self._by_path, self._by_name):
            for files in table.values():
                files.sort(key=lambda rel: (_EXT_RANK[rel.rpartition(".")[2].lower()], rel))

    def __len__(self) -> int:
        """Number of video files indexed."""
        return self._count

    def videos(self) -> tuple[list[tuple[str, Path]], list[Failure]]:
        """Every video file as ``(video_id, path)``, sorted by id, for raw-video builds.

        The video id is the file's path under the folder without its extension (POSIX
        separators, Unicode NFC). Of two files with the same id the extension earlier in
        `VIDEO_EXTENSIONS` wins; each other one is a `Failure` (stage ``resolve``).
        Symlinks resolving outside the folder are failures too.
        """
        videos: list[tuple[str, Path]] = []
        failures: list[Failure] = []
        for vid in sorted(self._by_path):
            first, *others = self._by_path[vid]
            try:
                videos.append((vid, self._checked(vid, first)))
            except NextEventError as err:
                failures.append(err.to_failure(vid))
            for other in others:
                failures.append(Failure(
                    input=other, stage="resolve",
                    error=f"{posixpath.basename(other)} has the same video id {vid!r} as "
                    f"{posixpath.basename(first)}; only {posixpath.basename(first)} is used",
                    hint="rename one of the two files"))
        return videos, failures

    def resolve(self, ann: VideoAnnotation) -> Path:
        """The video file of ``ann``: an absolute path inside the videos folder.

        See the module docstring for the lookup order.

        Raises:
            NextEventError: stage ``resolve``, when the reference or id escapes the videos
                folder, the file found is a symlink resolving outside it, the id matches
                files in several subfolders, or no file matches (the message lists the
                names tried).
        """
        if ann.video_ref:
            return self._resolve_ref(ann.video_id, ann.video_ref)
        video_id = ann.video_id
        _check_inside(video_id, "video id", video_id, self.root)
        wanted = _nfc(video_id.replace("\\", "/"))
        candidates: list[tuple[str, str | None]] = []  # (name without extension, extension)
        stem, dot, ext = wanted.rpartition(".")
        if dot and stem and ext.lower() in _EXT_RANK:
            candidates += [(stem, ext.lower()), (stem, None)]
        candidates.append((wanted, None))
        base = posixpath.basename(wanted)
        folder = wanted[: len(wanted) - len(base)]
        if base.startswith("v_") and len(base) > 2:
            candidates.append((folder + base[2:], None))
        elif ann.source == "activitynet":
            candidates.append((folder + "v_" + base, None))
        for name, ext_wanted in candidates:
            found = self._find(video_id, name, ext_wanted)
            if found is not None:
                return self._checked(video_id, found)
        raise self._missing(video_id, [name for name, _ in candidates])

    def _find(self, video_id: str, name: str, ext: str | None) -> str | None:
        """The file for ``name`` (no extension): at that path, else in one subfolder."""
        files = self._by_path.get(name)
        if not files and "/" not in name:
            files = self._by_name.get(name)
            folders = {posixpath.dirname(rel) for rel in files or []}
            if len(folders) > 1:
                shown = ", ".join(sorted(files or [])[:4])
                raise NextEventError(
                    "resolve", f"video id {video_id!r} matches files in several folders under "
                    f"{self.root}: {shown}",
                    "keep one copy, or give the file's relative path in the annotation "
                    "('video' in jsonl)")
        if not files:
            return None
        if ext is not None:
            exact = [rel for rel in files if rel.rpartition(".")[2].lower() == ext]
            return exact[0] if exact else None
        return files[0]

    def _resolve_ref(self, video_id: str, ref: str) -> Path:
        _check_inside(ref, "video file", video_id, self.root)
        rel = posixpath.normpath(ref.replace("\\", "/"))
        path = self.root / rel
        if not path.is_file():
            # The file system may store the name in another Unicode normal form.
            stem, _, ext = _nfc(rel).rpartition(".")
            matches = [f for f in self._by_path.get(stem, [])
                       if f.rpartition(".")[2].lower() == ext.lower()]
            if not matches:
                raise NextEventError(
                    "resolve", f"the annotation of video {video_id!r} names the file {ref!r}, "
                    f"but {path} does not exist",
                    f"put the file at {path}, fix the file name in the annotation, or pass "
                    "the right folder with --videos")
            rel = matches[0]
        return self._checked(video_id, rel)

    def _checked(self, video_id: str, rel: str) -> Path:
        """``root/rel``, after checking that it does not resolve outside the root."""
        path = self.root / rel
        if not self.allow_outside_symlinks:
            real = path.resolve()
            if not real.is_relative_to(self.root):
                raise NextEventError(
                    "resolve", f"the video file of {video_id!r}, {path}, is a symlink to "
                    f"{real}, outside the videos folder {self.root}",
                    "copy or move the video into the videos folder; files outside it are "
                    "never read")
        return path

    def _missing(self, video_id: str, names: list[str]) -> NextEventError:
        unique = list(dict.fromkeys(names))
        tried = ", ".join(f"{name}.mp4" for name in unique)
        others = ", ".join("." + ext for ext in VIDEO_EXTENSIONS[1:])
        hint = (f"put the video at {self.root / (unique[0] + '.mp4')} (or with another of "
                "those extensions), give its file name in the annotation ('video' in "
                "jsonl), or pass the right folder with --videos")
        for name in unique:
            near = self._by_lower.get(posixpath.basename(name).lower())
            if near:
                hint = f"a file differs only in letter case: {near[0]}; " + hint
                break
        return NextEventError(
            "resolve", f"no video file for id {video_id!r} under {self.root} (tried {tried} "
            f"and the same names with {others}, extensions in any letter case, here and "
            f"in subfolders; {self._count} video files indexed)", hint)


def resolve_video(videos_dir: Path, ann: VideoAnnotation) -> Path:
    """The video file of ``ann`` under ``videos_dir`` (absolute path inside it).

    Convenience for one lookup: it lists ``videos_dir`` each call, so for many
    annotations build one `VideoIndex` and call its `VideoIndex.resolve`.

    Raises:
        NextEventError: stage ``resolve``, as `VideoIndex` and `VideoIndex.resolve`.
    """
    return VideoIndex(videos_dir).resolve(ann)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _check_inside(ref: str, what: str, video_id: str, root: Path) -> None:
    """Raise when ``ref`` is absolute or climbs out of ``root`` (no file system access)."""
    posix = ref.replace("\\", "/")
    problem = None
    if not posix.strip():
        problem = "is empty"
    elif posix.startswith("/") or _DRIVE.match(posix):
        problem = "is an absolute path"
    else:
        normal = posixpath.normpath(posix)
        if normal == ".." or normal.startswith("../"):
            problem = "climbs out of the videos folder"
        elif normal == ".":
            problem = "names the videos folder itself"
    if problem:
        raise NextEventError(
            "resolve", f"the {what} {ref!r}"
            + ("" if ref == video_id else f" of video {video_id!r}")
            + f" {problem}; only files inside {root} are read",
            "give video files as paths relative to the --videos folder, without '..'")
