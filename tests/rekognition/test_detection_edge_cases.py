"""Detection edge cases through unmodified boto3: a degenerate false face never fails the image, and a
close-up that fills the frame is found and recognised (issue 13, item 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from face_scenes import REAL_FACE_REGION, degenerate_face_scene, encode_png
from glasshouse.engine.decode import decode_image
from glasshouse.evaluation.closeups import close_up

LFW = Path("lfw") / "lfw-deepfunneled"
#: Missed before the close-up pass when cut to 80% of its box and enlarged 3x (the close-up probe, seed 0).
CLOSE_UP_PERSON = "Sheldon_Silver"


def _inside(box: dict[str, float], region: tuple[int, int, int, int], width: int, height: int) -> bool:
    cx = (box["Left"] + box["Width"] / 2) * width
    cy = (box["Top"] + box["Height"] / 2) * height
    left, top, right, bottom = region
    return left <= cx <= right and top <= cy <= bottom


def test_a_degenerate_false_face_never_fails_the_image(rek: Any, rek_other: Any, shared_data: Path) -> None:
    scene = degenerate_face_scene(shared_data)
    height, width = scene.shape[:2]
    data = encode_png(scene)
    real = (shared_data / LFW / "George_W_Bush" / "George_W_Bush_0001.jpg").read_bytes()

    faces = rek.detect_faces(Image={"Bytes": data})["FaceDetails"]
    assert len(faces) == 1 and _inside(faces[0]["BoundingBox"], REAL_FACE_REGION, width, height)

    rek.create_collection(CollectionId="degenerate")
    indexed = rek.index_faces(CollectionId="degenerate", Image={"Bytes": data}, QualityFilter="NONE")
    assert len(indexed["FaceRecords"]) == 1 and indexed["UnindexedFaces"] == []
    assert _inside(indexed["FaceRecords"][0]["Face"]["BoundingBox"], REAL_FACE_REGION, width, height)

    found = rek.search_faces_by_image(CollectionId="degenerate", Image={"Bytes": real})["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in found] == [indexed["FaceRecords"][0]["Face"]["FaceId"]]
    again = rek.search_faces_by_image(CollectionId="degenerate", Image={"Bytes": data})["FaceMatches"]
    assert again and again[0]["Similarity"] > 99

    compared = rek_other.compare_faces(SourceImage={"Bytes": real}, TargetImage={"Bytes": data})
    assert len(compared["FaceMatches"]) == 1 and compared["UnmatchedFaces"] == []
    assert compared["FaceMatches"][0]["Similarity"] > 90


def test_a_close_up_filling_the_frame_is_found_and_recognised(rek: Any, shared_data: Path) -> None:
    photo_path = sorted((shared_data / LFW / CLOSE_UP_PERSON).glob("*.jpg"))[0]
    photo = decode_image(photo_path.read_bytes())
    face = rek.detect_faces(Image={"Bytes": photo_path.read_bytes()})["FaceDetails"]
    box = min(face, key=lambda f: abs(f["BoundingBox"]["Left"] + f["BoundingBox"]["Width"] / 2 - 0.5))[
        "BoundingBox"
    ]
    h, w = photo.shape[:2]
    pixels = (
        box["Left"] * w,
        box["Top"] * h,
        (box["Left"] + box["Width"]) * w,
        (box["Top"] + box["Height"]) * h,
    )

    rek.create_collection(CollectionId="close-ups")
    enrolled = rek.index_faces(
        CollectionId="close-ups", Image={"Bytes": photo_path.read_bytes()}, MaxFaces=1, ExternalImageId="p"
    )["FaceRecords"][0]["Face"]["FaceId"]
    for upscale in (3, 4):
        crop = encode_png(close_up(photo, pixels, 0.8, upscale))
        matches = rek.search_faces_by_image(CollectionId="close-ups", Image={"Bytes": crop})["FaceMatches"]
        assert [m["Face"]["FaceId"] for m in matches] == [enrolled], f"upscale {upscale}"
