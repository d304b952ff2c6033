"""The workspace database schema (SQLAlchemy 2). Portable SQL only: SQLite and PostgreSQL both run it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    datasets: Mapped[list[Dataset]] = relationship(back_populates="project", cascade="all, delete-orphan")
    classes: Mapped[list[ObjectClass]] = relationship(back_populates="project", cascade="all, delete-orphan")


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "parent_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    project: Mapped[Project] = relationship(back_populates="datasets")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the stored bytes: the blob's name
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    frame_count: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ObjectClass(Base):
    __tablename__ = "object_classes"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    shape: Mapped[str] = mapped_column(String(16))  # "mask" | "box"
    color: Mapped[str] = mapped_column(String(7))
    project: Mapped[Project] = relationship(back_populates="classes")


class PredictionRun(Base):
    __tablename__ = "prediction_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), nullable=True, index=True)
    model: Mapped[str] = mapped_column(String(512))
    mode: Mapped[str] = mapped_column(String(16))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Annotation(Base):
    """One object on an image, or on one frame of a video."""

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_video_frame", "video_id", "frame_idx"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=True, index=True)
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), nullable=True)
    frame_idx: Mapped[int | None] = mapped_column(Integer, nullable=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("object_classes.id", ondelete="CASCADE"), index=True)
    x0: Mapped[float] = mapped_column(Float)
    y0: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    mask_rle: Mapped[str | None] = mapped_column(Text, nullable=True)  # COCO compressed counts; size is the image's
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    track_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # "manual" | "model"
    run_id: Mapped[int | None] = mapped_column(ForeignKey("prediction_runs.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RunUpload(Base):
    """What a run's upload did for the item at one cursor position of its session, written in the same
    transaction as that item's image and objects. A resumed session uploads an item only when its row is
    missing, so an upload committed just before a kill (its result not yet in the session store) is not
    made twice; the primary key refuses a second one anyway."""

    __tablename__ = "run_uploads"
    run_id: Mapped[int] = mapped_column(ForeignKey("prediction_runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)  # the ImageUpload counts and the IDs written to


class StoredSession(Base):
    """A server session: its definition, state and counts, readable by any process sharing the database.

    ``owner`` names the server process running it (None once final); ``lease_until`` is when that claim
    lapses (kept for the scale-out issue: today a server that starts marks every running session
    interrupted). ``owned_by`` is whose session it is: the digest of the API key or of the client's token
    (``server/callers.py``), None for a session reached by its id alone."""

    __tablename__ = "server_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))  # "workspace" (the server owns the input) | "client" (uploads, URLs)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # settings, options, IDs, upload, video
    state: Mapped[str] = mapped_column(String(16), index=True)
    total: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    owned_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # shared sessions (several server processes on one database; see docs/scale-out.md)
    received: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # items promised by the uploads so far
    input_closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # set by any process, acted on by the owner


class StoredItem(Base):
    """An upload queued for a shared session: positions ``first`` to ``first + count - 1`` of its input (a video
    counts its sampled frames). Whichever process runs the session reads them in order; files are on storage
    every process reads."""

    __tablename__ = "server_session_items"
    session_id: Mapped[str] = mapped_column(ForeignKey("server_sessions.id", ondelete="CASCADE"), primary_key=True)
    first: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # image | video | url | failed
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class StoredResult(Base):
    """One finished item of a session at its cursor position: ``Prediction.to_dict()`` as zlib'd JSON."""

    __tablename__ = "server_session_results"
    session_id: Mapped[str] = mapped_column(ForeignKey("server_sessions.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
