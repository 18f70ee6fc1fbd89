"""Pair-list readers: LFW's View-2 pairs.txt (the real file) and CSV pair lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from glasshouse.errors import InvalidInputError
from glasshouse.evaluation.pairs import (
    assign_folds,
    distinct_images,
    pair_indices,
    parse_lfw_pairs,
    read_lfw_pairs,
    read_pair_csv,
)


def test_real_lfw_pairs_file(shared_data: Path) -> None:
    lfw = shared_data / "lfw"
    images = lfw / "lfw-deepfunneled"
    pairs = read_lfw_pairs(lfw / "pairs.txt", images)
    assert len(pairs) == 6000
    assert sorted({p.fold for p in pairs}) == list(range(10))
    assert sum(p.same for p in pairs) == 3000
    for k in range(10):
        fold = [p for p in pairs if p.fold == k]
        assert len(fold) == 600 and sum(p.same for p in fold) == 300
        assert all(p.same for p in fold[:300]) and not any(p.same for p in fold[300:])
    first = pairs[0]
    assert first.a == images / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    assert first.b == images / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg"
    assert all(p.a.parent.name == p.b.parent.name for p in pairs if p.same)
    assert all(p.a.parent.name != p.b.parent.name for p in pairs if not p.same)
    distinct = distinct_images(pairs)
    assert len(distinct) == 7701
    assert all(p.is_file() for p in distinct[:200])


def test_parse_small_pairs_text() -> None:
    text = "2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t5\nE\t1\tF\t1\n"
    pairs = parse_lfw_pairs(text, Path("/x"))
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert pairs[1].b == Path("/x/C/C_0003.jpg")


@pytest.mark.parametrize(
    "text",
    ["", "1 1\nA 1 2\n", "1 1\nA 1\nB 1 C 2\n", "1 1\nA 1 2\nB 1 C x\n", "x y\nA 1 2\nB 1 C 2\n"],
)
def test_malformed_pairs_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_lfw_pairs(text, Path("/x"))


def test_csv_without_subgroup_resolves_against_csv_folder(tmp_path: Path) -> None:
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("path_a,path_b,same\na.jpg,sub/b.jpg,1\n/abs/c.jpg,a.jpg,false\n")
    pairs = read_pair_csv(csv_file)
    assert [(p.a, p.b, p.same, p.subgroup) for p in pairs] == [
        (tmp_path / "a.jpg", tmp_path / "sub" / "b.jpg", True, None),
        (Path("/abs/c.jpg"), tmp_path / "a.jpg", False, None),
    ]
    images = distinct_images(pairs)
    assert images == [tmp_path / "a.jpg", tmp_path / "sub" / "b.jpg", Path("/abs/c.jpg")]
    assert pair_indices(pairs, images) == ([0, 2], [1, 0])


def test_csv_with_subgroup_and_deepface_columns(tmp_path: Path) -> None:
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("file_x,file_y,same,group\r\nimg1.jpg,img2.jpg,1,g1\r\nimg1.jpg,img3.jpg,0,g2\r\n")
    root = tmp_path / "root"
    pairs = read_pair_csv(csv_file, root=root, subgroup_column="group")
    assert [(p.a, p.same, p.subgroup) for p in pairs] == [
        (root / "img1.jpg", True, "g1"),
        (root / "img1.jpg", False, "g2"),
    ]
    with pytest.raises(InvalidInputError):
        read_pair_csv(csv_file, subgroup_column="missing")


def test_csv_default_subgroup_column_and_bad_rows(tmp_path: Path) -> None:
    good = tmp_path / "g.csv"
    good.write_text("path_a,path_b,same,subgroup\na,b,yes,x\n")
    assert read_pair_csv(good)[0].subgroup == "x"
    bad = tmp_path / "b.csv"
    bad.write_text("path_a,path_b,same\na,b,maybe\n")
    with pytest.raises(InvalidInputError):
        read_pair_csv(bad)
    nocols = tmp_path / "n.csv"
    nocols.write_text("left,right,same\na,b,1\n")
    with pytest.raises(InvalidInputError):
        read_pair_csv(nocols)


def test_assign_folds_is_stratified() -> None:
    same = [True] * 25 + [False] * 30
    folds = assign_folds(same, k=10)
    for k in range(10):
        pos = sum(1 for f, s in zip(folds, same, strict=True) if f == k and s)
        neg = sum(1 for f, s in zip(folds, same, strict=True) if f == k and not s)
        assert pos in (2, 3) and neg == 3
