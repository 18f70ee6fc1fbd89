"""One typed settings object. Every field reads a ``GLASSHOUSE_*`` environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration, passed explicitly to whatever needs it (no module-level singleton)."""

    model_config = SettingsConfigDict(env_prefix="GLASSHOUSE_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Database, model cache and media live here.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite at <data_dir>/glasshouse.db."
    )
    model_cache_dir: Path | None = Field(
        default=None, description="Converted models are cached here (default <data_dir>/models)."
    )
    model_packs_dir: Path | None = Field(
        default=None,
        description="Installed face model packs (`glasshouse models install`; default <data_dir>/model-packs).",
    )
    face_model: str = Field(
        default="dlib",
        description="Face model of new collections unless CreateCollection names one (tag "
        "glasshouse:face-model, REST/CLI --model), and of CompareFaces/DetectFaces: `dlib` or an installed pack.",
    )
    host: str = Field(default="127.0.0.1", description="Address `glasshouse serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `glasshouse serve` listens on.")

    max_image_bytes: int = Field(default=5 * 1024 * 1024, ge=1, description="Largest accepted image.")
    max_request_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body a route accepts unless it declares its own cap (images: three "
        "times max_image_bytes plus this; uploads: media_max_bytes, portal_clip_max_bytes, "
        "testing_max_upload_bytes). Counted as it streams, with or without Content-Length.",
    )
    max_image_pixels: int = Field(default=40_000_000, ge=1, description="Decompression-bomb guard.")
    detection_max_side: int = Field(
        default=1280, ge=128, description="Images are detected at most at this working resolution."
    )
    detection_threshold: float = Field(default=0.5, gt=0.0, lt=1.0, description="CenterFace score cut.")
    detection_min_face: int = Field(
        default=0,
        ge=0,
        description="The smallest face worth finding (px, in the analysed image): images are detected at the "
        "working size where such a face is just large enough for the detector (fewer pixels, faster; 40 "
        "measured, see README Speed); 0 looks for faces of any size (detection_max_side alone bounds it).",
    )
    decode_max_side: int = Field(
        default=4096,
        ge=256,
        description="Larger images are reduced to this working size as they are decoded (JPEG: by the "
        "decoder's DCT scaling; PNG: right after, before any colour conversion); boxes and sizes are "
        "reported in the analysed image's pixels.",
    )
    analysis_slots: int = Field(
        default=0,
        ge=0,
        description="Images decoded and analysed at once, server-wide (0: one per CPU core). Bounds memory.",
    )
    analysis_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a request waits for an analysis slot before ThrottlingException / 429.",
    )
    detection_close_up_side: int = Field(
        default=192,
        ge=0,
        description="Close-up pass: the image inside a wide border, at this size, finds faces that fill the "
        "frame (0 disables it).",
    )
    aligner: Literal["landmarks", "dlib"] = Field(
        default="landmarks",
        description="Face alignment: the detector's 5 landmarks (default, better and faster on LFW) or "
        "dlib's 5-point shape predictor (the reference pipeline).",
    )
    embed_flip: bool = Field(
        default=True, description="Test-time augmentation: average with the mirrored chip's embedding."
    )
    onnx_threads: int = Field(
        default=0,
        ge=0,
        description="onnxruntime intra-op threads per model (0 = chosen by timing 1 thread against every "
        "core at the first load on this kind of machine; the choice is cached in the model cache).",
    )
    detector_precision: Literal["auto", "float", "int8"] = Field(
        default="float",
        description="Detector arithmetic: float, int8 (statically quantised, built at first use), or auto "
        "(int8 on CPUs with VNNI, else float).",
    )
    embedder_precision: Literal["auto", "float", "int8"] = Field(
        default="float",
        description="Embedder arithmetic: float, int8 (statically quantised, built at first use), or auto "
        "(int8 on CPUs with VNNI, else float).",
    )
    embed_batch_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="Dynamic batching: how long a face waits for those of concurrent requests to be embedded "
        "in one call (a request alone never waits).",
    )
    embed_batch_max: int = Field(
        default=32, ge=1, description="Most face chips in one batched embedder call (1 turns batching off)."
    )
    throttle_rate: float = Field(
        default=50.0, ge=0, description="Requests per second per access key (0 disables throttling)."
    )
    throttle_burst: int = Field(default=100, ge=1, description="Requests a key may burst above the rate.")
    default_region: str = Field(
        default="us-east-1",
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$",
        description="Region of collections made outside the Rekognition API (CLI, REST, UI), and of those "
        "that existed before collections became regional (migration 0012 reads it too).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server key sealing stored secrets; default: generated once in <data_dir>/secret.key.",
    )
    policy_file: Path | None = Field(
        default=None,
        description="Responsible-use policy (YAML) loaded at start; default: the bundled policy, which "
        "reproduces the 2020 moratorium on police use.",
    )
    retention_sweep_seconds: int = Field(
        default=3600, ge=0, description="How often `serve` deletes faces past retention (0: never)."
    )
    testing_runs_per_hour: int = Field(
        default=5,
        ge=0,
        description="Independent-testing runs per organisation per rolling hour (0: no limit).",
    )
    testing_max_pairs: int = Field(default=2_000, ge=1, description="Most pairs in one testing run.")
    testing_min_group_pairs: int = Field(
        default=50,
        ge=10,
        description="Fewest pairs in a testing run and in each of its subgroups, so that aggregate figures "
        "never stand in for a single face comparison.",
    )
    testing_max_images: int = Field(
        default=2_000, ge=1, description="Most distinct images in one testing run."
    )
    testing_max_upload_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1,
        description="Largest testing upload (the ZIP), and the most its images may hold uncompressed.",
    )
    job_backend: Literal["inprocess", "celery"] = Field(
        default="inprocess",
        description="Who runs background jobs (video analysis): threads inside `glasshouse serve`, or "
        "`glasshouse worker` processes fed through a Redis broker (`redis_url`).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Celery broker for the celery job backend, e.g. redis://localhost:6379/0 "
        "(redis+socket:///path/redis.sock for a Unix socket).",
    )
    job_workers: int = Field(
        default=1, ge=1, description="Jobs run at once: serve's runner threads, or per `glasshouse worker`."
    )
    job_modules: list[str] = Field(
        default_factory=list,
        description="Extra modules that register job kinds, imported by every process that submits or "
        'runs jobs (JSON list, e.g. ["mypkg.jobs"]); the built-in kinds are always loaded.',
    )
    job_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A running job renews its lease every quarter of this; a job whose lease lapses "
        "(its worker died) is run again from scratch.",
    )
    job_max_attempts: int = Field(
        default=3, ge=1, description="Runs of a job whose worker keeps dying before it is FAILED."
    )
    job_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often idle runners look for jobs and for lapsed leases."
    )
    job_retention_hours: float = Field(
        default=168.0,
        ge=0,
        description="Finished jobs and their results are deleted this long after they end (0: kept).",
    )
    cookie_secure: bool | None = Field(
        default=None, description="Secure flag on UI cookies; unset: follow the request scheme (https)."
    )
    media_backend: Literal["local", "s3"] = Field(
        default="local", description="Where uploaded media (video clips) are stored: files or S3."
    )
    media_dir: Path | None = Field(
        default=None, description="Local media store root (default <data_dir>/media)."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 media store endpoint (MinIO, Ceph...); default: AWS's."
    )
    s3_bucket: str | None = Field(default=None, description="S3 media store bucket (required for s3).")
    s3_region: str | None = Field(default=None, description="S3 media store region.")
    media_max_bytes: int = Field(
        default=500 * 1024 * 1024, ge=1, description="Largest accepted media upload (bytes)."
    )
    s3api_virtual_host: str = Field(
        default="localhost",
        description="The S3-compatible endpoint answers virtual-hosted requests for Host <bucket>.<this> "
        "(e.g. s3.example.org); other Host names are path style (/<bucket>/<key>). Empty: path style only.",
    )
    notify_max_attempts: int = Field(
        default=10, ge=1, description="Deliveries of a video job notification tried before it is given up."
    )
    notify_backoff_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Wait before the first retry of a failed notification; doubled after each failure "
        "(at most an hour).",
    )
    approximate_above: int = Field(
        default=100_000,
        ge=1,
        description="Collections with more faces than this are searched by an approximate (HNSW) index "
        "persisted under <data_dir>/index; smaller ones exactly. Measured (`glasshouse bench search`): exact "
        "search costs about 1 ms p50 at 100k faces and 15 ms at 1M, HNSW 0.1 ms with recall@1 0.999.",
    )
    approximate_save_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How often changed approximate indexes are saved (0: only after many changes and at "
        "shutdown); after a crash the saved index is reconciled with the database.",
    )
    portal_clip_max_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1, description="Largest clip a camera owner may upload (bytes)."
    )
    portal_default_retention_days: int = Field(
        default=60, ge=1, le=3650, description="Days a camera owner's clips are kept unless they choose."
    )
    portal_access_days: int = Field(
        default=30,
        ge=0,
        description="Days after a footage request closes that its agency may still download shared clips "
        "(clips marked as evidence stay available).",
    )
    map_tile_url: str = Field(
        default="",
        description="Map tile server URL template for the portal's maps, e.g. "
        "https://tile.example.org/{z}/{x}/{y}.png (empty: no tiles; areas and cameras are still drawn).",
    )
    audit_checkpoint_file: Path | None = Field(
        default=None,
        description="Append-only file of signed audit-chain checkpoints (default "
        "<data_dir>/audit-checkpoints.jsonl); also served at /transparency/checkpoint.json.",
    )
    audit_checkpoint_seconds: int = Field(
        default=3600, ge=0, description="How often `serve` publishes a signed audit checkpoint (0: never)."
    )
    org: str = Field(default="local", description="The organisation the CLI acts as (`glasshouse --org`).")
    log_level: str = Field(default="INFO")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'glasshouse.db').as_posix()}"

    @property
    def media_path(self) -> Path:
        """Root of the local media store: ``media_dir`` or ``<data_dir>/media``."""
        return self.media_dir or self.data_dir / "media"

    @property
    def audit_checkpoint_path(self) -> Path:
        """The checkpoint file: ``audit_checkpoint_file`` or ``<data_dir>/audit-checkpoints.jsonl``."""
        return self.audit_checkpoint_file or self.data_dir / "audit-checkpoints.jsonl"

    @property
    def model_packs_path(self) -> Path:
        """Installed model packs: ``model_packs_dir`` or ``<data_dir>/model-packs``."""
        return self.model_packs_dir or self.data_dir / "model-packs"

    @property
    def models_path(self) -> Path:
        """Where converted models are cached: ``model_cache_dir`` or ``<data_dir>/models``."""
        return self.model_cache_dir or self.data_dir / "models"
