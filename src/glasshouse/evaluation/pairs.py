"""Pair lists: LFW's View-2 ``pairs.txt`` and generic CSV pair files."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from glasshouse.errors import InvalidInputError

#: Accepted (first, second) path column names of a pair CSV, in order of preference.
CSV_PATH_COLUMNS: tuple[tuple[str, str], ...] = (("path_a", "path_b"), ("file_x", "file_y"))
_TRUE = {"1", "true", "yes", "same", "y", "t"}
_FALSE = {"0", "false", "no", "different", "n", "f"}


@dataclass(frozen=True, slots=True)
class Pair:
    """Two image files and whether they show the same person. ``fold`` is the LFW fold (0-based)."""

    a: Path
    b: Path
    same: bool
    fold: int = 0
    subgroup: str | None = None


def lfw_image_path(image_dir: Path, name: str, index: int) -> Path:
    return image_dir / name / f"{name}_{index:04d}.jpg"


def parse_lfw_pairs(text: str, image_dir: Path) -> list[Pair]:
    """Parse View-2 ``pairs.txt``: ``folds per_fold``, then per fold that many same, then different, lines."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or len(lines[0]) != 2:
        raise InvalidInputError("pairs file: the first line must be '<folds> <pairs per class>'")
    try:
        n_folds, per_fold = int(lines[0][0]), int(lines[0][1])
    except ValueError as exc:
        raise InvalidInputError(f"pairs file: bad header {lines[0]!r}") from exc
    body = lines[1:]
    if len(body) != n_folds * per_fold * 2:
        raise InvalidInputError(
            f"pairs file: expected {n_folds * per_fold * 2} pair lines, found {len(body)}"
        )
    pairs: list[Pair] = []
    for row_no, fields in enumerate(body):
        fold, within = divmod(row_no, 2 * per_fold)
        same = within < per_fold
        try:
            if same and len(fields) == 3:
                name, i, j = fields
                a, b = lfw_image_path(image_dir, name, int(i)), lfw_image_path(image_dir, name, int(j))
            elif not same and len(fields) == 4:
                n1, i, n2, j = fields
                a, b = lfw_image_path(image_dir, n1, int(i)), lfw_image_path(image_dir, n2, int(j))
            else:
                raise ValueError(f"{len(fields)} fields")
        except ValueError as exc:
            kind = "same" if same else "different"
            raise InvalidInputError(f"pairs file line {row_no + 2}: not a {kind}-pair line ({exc})") from exc
        pairs.append(Pair(a, b, same, fold))
    return pairs


def read_lfw_pairs(pairs_file: Path, image_dir: Path) -> list[Pair]:
    return parse_lfw_pairs(pairs_file.read_text(encoding="utf-8"), image_dir)


def _parse_same(value: str, row_no: int) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InvalidInputError(f"pair CSV row {row_no}: 'same' must be 1/0/true/false, got {value!r}")


def read_pair_csv(path: Path, root: Path | None = None, subgroup_column: str | None = None) -> list[Pair]:
    """Read ``path_a,path_b,same[,subgroup]`` (or deepface's ``file_x,file_y,same``).

    Relative paths resolve against ``root`` or else the CSV's folder. Without ``subgroup_column``, a column
    named ``subgroup`` is used when present.
    """
    base = root if root is not None else path.parent
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        cols = next(((x, y) for x, y in CSV_PATH_COLUMNS if x in columns and y in columns), None)
        if cols is None or "same" not in columns:
            raise InvalidInputError(f"pair CSV {path}: needs columns path_a,path_b,same (found {columns})")
        group_col = subgroup_column or ("subgroup" if "subgroup" in columns else None)
        if group_col is not None and group_col not in columns:
            raise InvalidInputError(f"pair CSV {path}: no column {group_col!r} (found {columns})")
        pairs = []
        for row_no, row in enumerate(reader, start=2):
            a, b = Path(row[cols[0]]), Path(row[cols[1]])
            group = row[group_col].strip() if group_col is not None else None
            pairs.append(
                Pair(
                    a if a.is_absolute() else base / a,
                    b if b.is_absolute() else base / b,
                    _parse_same(row["same"], row_no),
                    subgroup=group,
                )
            )
    if not pairs:
        raise InvalidInputError(f"pair CSV {path}: no pairs")
    return pairs


def distinct_images(pairs: Iterable[Pair]) -> list[Path]:
    """Every image named by the pairs, once, in first-seen order."""
    seen: dict[Path, None] = {}
    for p in pairs:
        seen.setdefault(p.a)
        seen.setdefault(p.b)
    return list(seen)


def pair_indices(pairs: Sequence[Pair], images: Sequence[Path]) -> tuple[list[int], list[int]]:
    """Row numbers of each pair's two images in ``images``."""
    where = {p: i for i, p in enumerate(images)}
    return [where[p.a] for p in pairs], [where[p.b] for p in pairs]


def list_identity_images(image_dir: Path) -> tuple[list[Path], list[str]]:
    """All ``*.jpg`` under ``image_dir/<identity>/`` (sorted) and each one's identity (the folder name)."""
    paths = sorted(p for p in image_dir.glob("*/*.jpg") if p.is_file())
    if not paths:
        raise InvalidInputError(f"no images found under {image_dir}/<identity>/*.jpg")
    return paths, [p.parent.name for p in paths]


def assign_folds(same: Sequence[bool], k: int = 10) -> list[int]:
    """Deterministic stratified folds for a pair list without its own: same and different pairs dealt
    round-robin, so every fold gets a near-equal share of each class (pairs are not subject-disjoint)."""
    counters = {True: 0, False: 0}
    folds = []
    for s in same:
        folds.append(counters[s] % k)
        counters[s] += 1
    return folds
