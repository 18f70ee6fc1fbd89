"""Real recognition through the API: enrol one photo per person, find them again in their other photos,
and find nobody for people never enrolled (LFW strangers), at Rekognition's default threshold of 80."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from glasshouse.engine.decode import sniff_format


def _identities(shared_data: Path) -> dict[str, list[Path]]:
    """Person -> photos (first one is enrolled), from the deepface clusters and face_recognition examples."""
    people: dict[str, list[Path]] = defaultdict(list)
    deepface = shared_data / "deepface"
    with (deepface / "identity_clusters.csv").open() as f:
        for row in csv.DictReader(f):
            people[f"deepface-{row['cluster']}"].append(deepface / "tests/unit/dataset" / row["file"])
    knn = shared_data / "face_recognition/examples/knn_examples"
    for folder in sorted((knn / "train").iterdir()):
        people[folder.name] += sorted(folder.iterdir())
    examples = shared_data / "face_recognition/examples"
    people["obama"] += [examples / n for n in ("obama2.jpg", "obama-480p.jpg", "obama_small.jpg")]
    people["obama"].append(knn / "test/obama1.jpg")
    people["alex_lacamoire"] += [examples / "alex-lacamoire.png", knn / "test/alex_lacamoire1.jpg"]
    people["kit_harington"].append(knn / "test/johnsnow_test1.jpg")
    people["lin_manuel_miranda"] = [
        examples / "lin-manuel-miranda.png",
        shared_data / "video/hamilton/lin-manuel-miranda.png",
    ]
    # Rekognition accepts JPEG and PNG only; the deepface set holds a WebP named .jpg (refused, tested elsewhere).
    return {p: [f for f in fs if sniff_format(f.read_bytes()[:16])] for p, fs in people.items()}


def _strangers(shared_data: Path, n: int = 40) -> list[Path]:
    """LFW photos of people who appear nowhere in the enrolled set (fixed seed)."""
    lfw = shared_data / "lfw/lfw-deepfunneled"
    excluded = {"Barack_Obama", "Joe_Biden"}
    names = sorted(p.name for p in lfw.iterdir() if p.name not in excluded)
    rng = random.Random(7)
    return [next(iter(sorted((lfw / name).iterdir()))) for name in rng.sample(names, n)]


@pytest.mark.slow
def test_enrolled_people_are_found_and_strangers_are_not(rek: Any, shared_data: Path) -> None:
    people = _identities(shared_data)
    rek.create_collection(CollectionId="recognition")
    for person, photos in people.items():
        records = rek.index_faces(
            CollectionId="recognition",
            Image={"Bytes": photos[0].read_bytes()},
            ExternalImageId=person,
            MaxFaces=1,
        )["FaceRecords"]
        assert len(records) == 1, photos[0]

    found = wrong = missed = 0
    for person, photos in people.items():
        for photo in photos[1:]:
            try:
                matches = rek.search_faces_by_image(
                    CollectionId="recognition", Image={"Bytes": photo.read_bytes()}, MaxFaces=1
                )["FaceMatches"]
            except ClientError as exc:  # no face found in the probe
                assert exc.response["Error"]["Code"] == "InvalidParameterException"
                missed += 1
                continue
            if not matches:
                missed += 1
            elif matches[0]["Face"]["ExternalImageId"] == person:
                assert matches[0]["Similarity"] >= 80
                found += 1
            else:
                wrong += 1
    genuine = found + wrong + missed

    false_matches = 0
    strangers = _strangers(shared_data)
    for photo in strangers:
        matches = rek.search_faces_by_image(
            CollectionId="recognition", Image={"Bytes": photo.read_bytes()}, MaxFaces=1
        )["FaceMatches"]
        false_matches += bool(matches)
    print(
        f"\nrecognition via API: {len(people)} people enrolled; genuine probes {genuine}: found {found}, "
        f"wrong person {wrong}, no match {missed}; strangers {len(strangers)}: false matches {false_matches}"
    )
    assert wrong == 0
    assert found >= 0.9 * genuine
    assert false_matches <= 0.05 * len(strangers)
    rek.delete_collection(CollectionId="recognition")
