"""Faces in video: decode (PyAV), track, embed each person's best faces, search a collection.

Pure computation like :mod:`glasshouse.engine`; whoever calls it applies the governance gate.
"""

from glasshouse.video.decode import InvalidVideoError, VideoMetadata, VideoReader, iter_frames, probe
from glasshouse.video.pipeline import (
    FaceMatch,
    PersonMatch,
    Sampling,
    VideoAnalysis,
    VideoTrack,
    analyse_video,
    search_tracks,
)

__all__ = [
    "FaceMatch",
    "InvalidVideoError",
    "PersonMatch",
    "Sampling",
    "VideoAnalysis",
    "VideoMetadata",
    "VideoReader",
    "VideoTrack",
    "analyse_video",
    "iter_frames",
    "probe",
    "search_tracks",
]
