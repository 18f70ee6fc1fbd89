"""The composition root: builds the database, engine and domain services from one Settings object.

Surfaces (CLI, HTTP) receive a :class:`Services` and call its domain services; nothing else wires parts.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit.checkpoints import KEY_PURPOSE as CHECKPOINT_KEY_PURPOSE
from glasshouse.audit.checkpoints import AuditCheckpoints, CheckpointFile, CheckpointSigner
from glasshouse.audit.service import KEY_PURPOSE as AUDIT_KEY_PURPOSE
from glasshouse.audit.service import AuditLog
from glasshouse.collections.index import SearchIndex
from glasshouse.collections.pgvector_index import PgVectorSearchIndex
from glasshouse.collections.retention import RetentionService
from glasshouse.collections.search_index import FaceSearchIndex
from glasshouse.collections.service import CollectionService, load_vectors
from glasshouse.collections.users import UserService
from glasshouse.config import Settings
from glasshouse.db import utcnow
from glasshouse.engine.models.registry import ModelRegistry
from glasshouse.engine.pipeline import FaceEngine
from glasshouse.faces.models import FaceModels
from glasshouse.faces.packs import ModelPacks
from glasshouse.faces.service import FaceAnalyser
from glasshouse.faces.slots import AnalysisSlots
from glasshouse.governance.actor import Actor
from glasshouse.governance.duties import Duties
from glasshouse.governance.gate import Gate
from glasshouse.governance.store import PolicyStore
from glasshouse.idempotency.service import IdempotencyService
from glasshouse.jobs.service import JobService
from glasshouse.keys.crypto import SecretBox
from glasshouse.keys.service import KeyService
from glasshouse.media.multipart import MultipartService
from glasshouse.media.service import MediaService
from glasshouse.media.store import store_from_settings
from glasshouse.notify.service import NotificationService
from glasshouse.organisations import service as organisations
from glasshouse.organisations.models import LOCAL_ORG_NAME
from glasshouse.organisations.service import OrganisationService
from glasshouse.people.service import PeopleService
from glasshouse.portal.common import PORTAL_SHARED_BUCKET
from glasshouse.portal.service import PortalService
from glasshouse.redaction.copies import RedactedCopies
from glasshouse.redaction.service import RedactionService
from glasshouse.review.service import ReviewService
from glasshouse.tags.service import TagService
from glasshouse.testing.service import TestingService
from glasshouse.transparency.report import TransparencyService


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: FaceEngine | None = None,
        migrate: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.clock = clock
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_engine: Engine = db.make_engine(settings.resolved_database_url)
        if migrate:
            db.upgrade(settings.resolved_database_url)
        self.sessions: sessionmaker[Session] = db.make_sessionmaker(self.db_engine)
        self.face_engine = engine or FaceEngine.from_settings(settings)

    @cached_property
    def models(self) -> ModelRegistry:
        """The face models installed here (dlib built in; packs under ``model_packs_path``)."""
        return ModelRegistry(self.settings.model_packs_path, self.settings.aligner)

    @cached_property
    def face_models(self) -> FaceModels:
        """One analyser per installed face model (detector shared), for collections on each model."""
        return FaceModels(self.models, self._builtin_analyser, self.settings.face_model)

    @cached_property
    def model_packs(self) -> ModelPacks:
        """Installing packs on purpose (licence accepted, audited)."""
        return ModelPacks(self.models, self.audit, self.settings.models_path / "pack-sources")

    @property
    def analyser(self) -> FaceAnalyser:
        """The default model's analyser (CompareFaces, DetectFaces; GLASSHOUSE_FACE_MODEL)."""
        return self.face_models.default

    @cached_property
    def _builtin_analyser(self) -> FaceAnalyser:
        return FaceAnalyser(
            self.face_engine,
            max_image_bytes=self.settings.max_image_bytes,
            max_image_pixels=self.settings.max_image_pixels,
            max_side=self.settings.decode_max_side,
            slots=AnalysisSlots(self.settings.analysis_slots, self.settings.analysis_wait_seconds),
        )

    @cached_property
    def redaction(self) -> RedactionService:
        return RedactionService(self.face_engine)

    @cached_property
    def redacted_copies(self) -> RedactedCopies:
        """Stored redacted copies (portal shares, release exports) and their chain-of-custody records."""
        return RedactedCopies(
            self.sessions,
            self.media,
            self.redaction,
            self.audit,
            clock=self.clock,
            spool_dir=self.settings.data_dir / "redaction-spool",
        )

    @cached_property
    def search_index(self) -> SearchIndex:
        """PostgreSQL: pgvector search in the database (nothing in the process to go stale across nodes).
        SQLite: the in-memory index, mirrored from the database after every commit."""
        if self.db_engine.dialect.name == "postgresql":
            return PgVectorSearchIndex(self.db_engine)
        return FaceSearchIndex(
            lambda collection_id: load_vectors(self.sessions, collection_id),
            approximate_above=self.settings.approximate_above,
            index_dir=self.settings.data_dir / "index",
            save_seconds=self.settings.approximate_save_seconds,
        )

    @cached_property
    def collections(self) -> CollectionService:
        return CollectionService(
            self.sessions,
            self.face_models,
            self.search_index,
            default_region=self.settings.default_region,
            box=self.secret_box,
            audit=self.audit,
        )

    @cached_property
    def users(self) -> UserService:
        return UserService(self.sessions, self.collections, self.search_index)

    @cached_property
    def tags(self) -> TagService:
        return TagService(self.sessions)

    @cached_property
    def idempotency(self) -> IdempotencyService:
        return IdempotencyService(self.sessions)

    @cached_property
    def jobs(self) -> JobService:
        """Background jobs (video analysis), run in `serve` or by `glasshouse worker` (job_backend)."""
        return JobService.from_settings(self.settings, self.sessions)

    @cached_property
    def secret_box(self) -> SecretBox:
        return SecretBox.from_settings(self.settings)

    @cached_property
    def keys(self) -> KeyService:
        return KeyService(self.sessions, self.secret_box, audit=self.audit)

    # -- governance -----------------------------------------------------------------------------------
    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.sessions, self.secret_box.derive(AUDIT_KEY_PURPOSE), clock=self.clock)

    @cached_property
    def checkpoints(self) -> AuditCheckpoints:
        """Signed checkpoints of the audit chain, published to a file outside the database."""
        signer = CheckpointSigner(self.secret_box.derive(CHECKPOINT_KEY_PURPOSE))
        file = CheckpointFile(self.settings.audit_checkpoint_path)
        return AuditCheckpoints(self.audit, signer, file, clock=self.clock)

    @cached_property
    def organisations(self) -> OrganisationService:
        return OrganisationService(self.sessions, self.audit)

    @cached_property
    def people(self) -> PeopleService:
        return PeopleService(self.sessions, self.audit, clock=self.clock)

    @cached_property
    def policies(self) -> PolicyStore:
        return PolicyStore(self.sessions, self.audit, self.settings.policy_file, clock=self.clock)

    @cached_property
    def gate(self) -> Gate:
        return Gate(self.sessions, self.audit, self.policies, self.organisations, clock=self.clock)

    @cached_property
    def duties(self) -> Duties:
        """Separation of duties: four-eyes steps need distinct people holding the policy's roles."""
        return Duties(self.audit, self.policies)

    @cached_property
    def reviews(self) -> ReviewService:
        return ReviewService(self.sessions, self.audit, self.duties, box=self.secret_box)

    @cached_property
    def transparency(self) -> TransparencyService:
        return TransparencyService(self.sessions, self.audit, policies=self.policies, clock=self.clock)

    @cached_property
    def retention(self) -> RetentionService:
        return RetentionService(
            self.sessions, self.collections, self.search_index, self.audit, clock=self.clock
        )

    @cached_property
    def testing(self) -> TestingService:
        """Independent accuracy testing on a caller's own labelled pairs (audited, rate-limited)."""
        return TestingService(self.settings, self.sessions, self.audit, self.gate, clock=self.clock)

    @cached_property
    def media(self) -> MediaService:
        """Uploaded media (video clips): local files or S3 per ``settings.media_backend``."""
        return MediaService(
            self.sessions,
            store_from_settings(self.settings),
            self.audit,
            max_bytes=self.settings.media_max_bytes,
            clock=self.clock,
            # Clips shared with an agency, as Rekognition S3Objects (resolved by the portal when asked).
            shared_buckets={
                PORTAL_SHARED_BUCKET: lambda org_id, name: self.portal.shared_media(org_id, name)
            },
        )

    @cached_property
    def multipart(self) -> MultipartService:
        """S3 multipart uploads into the media store (the S3-compatible endpoint)."""
        return MultipartService(self.sessions, self.media, clock=self.clock)

    @cached_property
    def notifications(self) -> NotificationService:
        """Video job completion notifications: operators' webhooks per SNS topic ARN."""
        return NotificationService(
            self.sessions,
            self.secret_box,
            self.audit,
            max_attempts=self.settings.notify_max_attempts,
            backoff_seconds=self.settings.notify_backoff_seconds,
            clock=self.clock,
        )

    @cached_property
    def portal(self) -> PortalService:
        """The community camera portal: owners' cameras and clips, agencies' footage requests."""
        return PortalService(
            self.sessions,
            self.media,
            self.audit,
            self.gate,
            self.people,
            self.duties,
            spool_dir=self.settings.data_dir / "portal-spool",
            max_clip_bytes=self.settings.portal_clip_max_bytes,
            default_retention_days=self.settings.portal_default_retention_days,
            access_days=self.settings.portal_access_days,
            clock=self.clock,
            copies=self.redacted_copies,
        )

    def cli_actor(self) -> Actor:
        """The CLI's actor: the configured organisation (``local`` is created on first use), acting as the
        operating-system user. The CLI has the database at hand, so it is an operator's tool."""
        name = self.settings.org
        with db.transaction(self.sessions) as session:
            org = (
                organisations.get_or_create(session, name)
                if name == LOCAL_ORG_NAME
                else organisations.get_by_name(session, name)
            )
            return Actor(
                org_id=org.id,
                org_name=org.name,
                surface="cli",
                person=f"os:{getpass.getuser()}",
                is_operator=True,
            )

    def org_id(self, name: str = LOCAL_ORG_NAME) -> str:
        """The id of organisation ``name``, created on first use (the CLI acts as the local organisation)."""
        with db.transaction(self.sessions) as session:
            return organisations.get_or_create(session, name).id

    def close(self) -> None:
        index = self.__dict__.get("search_index")  # built only if used
        if isinstance(index, FaceSearchIndex):
            index.close()  # saves approximate indexes: the next start reconciles nothing
        self.db_engine.dispose()
