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
    host: str = Field(default="127.0.0.1", description="Address `glasshouse serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `glasshouse serve` listens on.")

    max_image_bytes: int = Field(default=5 * 1024 * 1024, ge=1, description="Largest accepted image.")
    max_image_pixels: int = Field(default=40_000_000, ge=1, description="Decompression-bomb guard.")
    detection_max_side: int = Field(
        default=1280, ge=128, description="Images are detected at most at this working resolution."
    )
    detection_threshold: float = Field(default=0.5, gt=0.0, lt=1.0, description="CenterFace score cut.")
    aligner: Literal["landmarks", "dlib"] = Field(
        default="landmarks",
        description="Face alignment: the detector's 5 landmarks (default, better and faster on LFW) or "
        "dlib's 5-point shape predictor (the reference pipeline).",
    )
    embed_flip: bool = Field(
        default=True, description="Test-time augmentation: average with the mirrored chip's embedding."
    )
    onnx_threads: int = Field(default=0, ge=0, description="onnxruntime intra-op threads (0 = all cores).")
    throttle_rate: float = Field(
        default=50.0, ge=0, description="Requests per second per access key (0 disables throttling)."
    )
    throttle_burst: int = Field(default=100, ge=1, description="Requests a key may burst above the rate.")
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
    testing_max_images: int = Field(
        default=2_000, ge=1, description="Most distinct images in one testing run."
    )
    testing_max_upload_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1,
        description="Largest testing upload (the ZIP), and the most its images may hold uncompressed.",
    )
    cookie_secure: bool | None = Field(
        default=None, description="Secure flag on UI cookies; unset: follow the request scheme (https)."
    )
    org: str = Field(default="local", description="The organisation the CLI acts as (`glasshouse --org`).")
    log_level: str = Field(default="INFO")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'glasshouse.db').as_posix()}"

    @property
    def models_path(self) -> Path:
        """Where converted models are cached: ``model_cache_dir`` or ``<data_dir>/models``."""
        return self.model_cache_dir or self.data_dir / "models"
