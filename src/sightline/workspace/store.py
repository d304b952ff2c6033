"""``Workspace``: projects, datasets, images, videos and annotations in a database, bytes in blobs.

    ws = sightline.Workspace("./data")                         # SQLite file data/sightline.db + data/blobs
    ws = sightline.Workspace("postgresql://user@host/db", blobs="./blobs")
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from sightline.drawing import class_color
from sightline.errors import InputError, InvalidSettingError, NotFoundError
from sightline.inputs.images import decode_image_bytes, is_image_path
from sightline.video.probe import probe_video
from sightline.workspace import migrate
from sightline.workspace.blobs import open_blobs
from sightline.workspace.ids import is_id, valid_id
from sightline.workspace.names import valid_description, valid_name
from sightline.workspace.records import ClassInfo, DatasetInfo, ImageInfo, Obj, ProjectInfo, VideoInfo
from sightline.workspace.retry import with_retries
from sightline.workspace.schema import Annotation, Dataset, Image, ObjectClass, Project, Video

DEFAULT_ROOT = Path(os.environ.get("SIGHTLINE_DATA", "./data"))
T = TypeVar("T")


def retried_read(method: Callable[..., T]) -> Callable[..., T]:
    """A method that only reads (or, like ``ensure_dataset``, gives the same answer when run twice),
    tried again after a transient database error (``workspace/retry.py``)."""

    @functools.wraps(method)
    def wrapper(self: Workspace, *args: Any, **kwargs: Any) -> T:
        return with_retries(lambda: method(self, *args, **kwargs), f"workspace.{method.__name__}")

    return wrapper


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


class Workspace:
    """A workspace: a database URL (or a folder for an embedded SQLite file) and a blob folder."""

    def __init__(self, location: str | Path | None = None, *, blobs: str | Path | None = None, blob_options: dict[str, Any] | None = None) -> None:
        """``blobs``: a folder or an fsspec URL (``s3://bucket/prefix``); default ``$SIGHTLINE_BLOBS``, else a
        ``blobs`` folder beside the SQLite file (or ``$SIGHTLINE_DATA/blobs`` with a database URL). ``blob_options``:
        the file system's options for a URL (an S3 endpoint, keys); default ``$SIGHTLINE_BLOBS_OPTIONS`` (JSON)."""
        location = location or os.environ.get("SIGHTLINE_DATABASE_URL") or DEFAULT_ROOT
        text = str(location)
        if "://" in text:
            self.url = text
            blob_root = blobs or os.environ.get("SIGHTLINE_BLOBS") or DEFAULT_ROOT / "blobs"
        else:
            root = Path(text)
            root.mkdir(parents=True, exist_ok=True)
            self.url = f"sqlite:///{(root / 'sightline.db').resolve()}"
            blob_root = blobs or root / "blobs"
        self.engine = create_engine(self.url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        migrate.upgrade(self.engine)
        self.blobs = open_blobs(blob_root, blob_options)  # a folder, or an fsspec URL (s3://...) every node can read
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One database transaction: committed on success, rolled back entirely on any error."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"<Workspace {self.engine.url.render_as_string(hide_password=True)}>"

    # --- projects and datasets -------------------------------------------------------------------
    def check_new_project_name(self, name: str) -> str:
        """The name, valid and not taken; ``InputError`` (what ``create_project`` raises) otherwise."""
        name = valid_name(name, "project name")
        with self.transaction() as s:
            if s.scalar(select(Project.id).where(Project.name == name)) is not None:
                raise InputError(f"a project named {name!r} already exists")
        return name

    def create_project(self, name: str, description: str = "") -> ProjectInfo:
        name, description = valid_name(name, "project name"), valid_description(description)
        with self.transaction() as s:
            if s.scalar(select(Project.id).where(Project.name == name)) is not None:
                raise InputError(f"a project named {name!r} already exists")
            project = Project(name=name, description=description)
            s.add(project)
            s.flush()
            pid = project.id
        return self.project(pid)

    @retried_read
    def projects(self) -> list[ProjectInfo]:
        with self.transaction() as s:
            ids = s.scalars(select(Project.id).order_by(Project.id)).all()
        return [self.project(i) for i in ids]

    @retried_read
    def project(self, project: int | str) -> ProjectInfo:
        """A project by ID, or by name."""
        if isinstance(project, str):
            try:
                valid_name(project, "project name")
            except InvalidSettingError:  # no project can have such a name
                raise NotFoundError(f"no project {project!r:.300} in this workspace", 404) from None
        else:
            valid_id(project, "project")
        with self.transaction() as s:
            p = s.scalar(select(Project).where(Project.name == project.strip())) if isinstance(project, str) else s.get(Project, project)
            if p is None:
                raise NotFoundError(f"no project {project!r} in this workspace", 404)
            ds = select(Dataset.id).where(Dataset.project_id == p.id)
            return ProjectInfo(
                id=p.id,
                name=p.name,
                description=p.description,
                datasets=s.scalar(select(func.count()).select_from(ds.subquery())) or 0,
                images=s.scalar(select(func.count(Image.id)).where(Image.dataset_id.in_(ds))) or 0,
                videos=s.scalar(select(func.count(Video.id)).where(Video.dataset_id.in_(ds))) or 0,
            )

    def create_dataset(self, project_id: int, name: str, parent_id: int | None = None) -> DatasetInfo:
        valid_id(project_id, "project")
        if parent_id is not None:
            valid_id(parent_id, "dataset")
        name = valid_name(name, "dataset name")
        with self.transaction() as s:
            if s.get(Project, project_id) is None:
                raise NotFoundError(f"no project {project_id}", 404)
            clash = select(Dataset.id).where(Dataset.project_id == project_id, Dataset.name == name, Dataset.parent_id.is_(parent_id) if parent_id is None else Dataset.parent_id == parent_id)
            if s.scalar(clash) is not None:
                raise InputError(f"project {project_id} already has a dataset {name!r} there")
            if parent_id is not None and s.scalar(select(Dataset.id).where(Dataset.id == parent_id, Dataset.project_id == project_id)) is None:
                raise NotFoundError(f"no dataset {parent_id} in project {project_id}", 404)
            d = Dataset(project_id=project_id, name=name, parent_id=parent_id)
            s.add(d)
            s.flush()
            did = d.id
        return self.dataset(did)

    @retried_read
    def dataset(self, dataset_id: int) -> DatasetInfo:
        valid_id(dataset_id, "dataset")
        with self.transaction() as s:
            d = s.get(Dataset, dataset_id)
            if d is None:
                raise NotFoundError(f"no dataset {dataset_id} in this workspace", 404)
            path, parent = d.name, d.parent_id
            while parent is not None:
                up = s.get(Dataset, parent)
                if up is None:  # the foreign key keeps a parent; read as the top if it went meanwhile
                    break
                path, parent = f"{up.name}/{path}", up.parent_id
            return DatasetInfo(
                id=d.id,
                project_id=d.project_id,
                parent_id=d.parent_id,
                name=d.name,
                path=path,
                images=s.scalar(select(func.count(Image.id)).where(Image.dataset_id == d.id)) or 0,
                videos=s.scalar(select(func.count(Video.id)).where(Video.dataset_id == d.id)) or 0,
            )

    @retried_read
    def datasets(self, project_id: int) -> list[DatasetInfo]:
        valid_id(project_id, "project")
        with self.transaction() as s:
            ids = s.scalars(select(Dataset.id).where(Dataset.project_id == project_id).order_by(Dataset.id)).all()
        return [self.dataset(i) for i in ids]

    @retried_read
    def ensure_dataset(self, project_id: int, path: str) -> int:
        """The id of dataset ``a/b/c`` in a project, creating the missing levels."""
        valid_id(project_id, "project")
        parent: int | None = None
        for part in (valid_name(p, f"dataset name in {path!r:.300}") for p in path.split("/")):
            with self.transaction() as s:
                q = select(Dataset.id).where(Dataset.project_id == project_id, Dataset.name == part)
                q = q.where(Dataset.parent_id.is_(None) if parent is None else Dataset.parent_id == parent)
                found = s.scalar(q)
            parent = found if found is not None else self.create_dataset(project_id, part, parent).id
        assert parent is not None
        return parent

    # --- images and videos -----------------------------------------------------------------------
    def add_image(self, dataset_id: int, data: bytes | np.ndarray | str | Path, name: str | None = None) -> ImageInfo:
        """Add one image (encoded bytes, an RGB array, or a file path); its bytes go to the blob folder."""
        if isinstance(data, (str, Path)):
            name = Path(data).name if name is None else name
            data = Path(data).read_bytes()
        elif isinstance(data, np.ndarray):
            buf = io.BytesIO()
            PILImage.fromarray(data).save(buf, format="PNG")
            data = buf.getvalue()
        if name is None:
            raise InputError("an image added from bytes or an array needs a name")
        name = valid_name(name, "image name")
        valid_id(dataset_id, "dataset")
        pixels = decode_image_bytes(data)  # refuse non-images before anything is stored
        digest = self.blobs.put(data)
        with self.transaction() as s:
            iid = self.new_image_row(s, dataset_id, name, pixels.shape[1], pixels.shape[0], digest, len(data)).id
        return self.image(iid)

    def new_image_row(self, s: Session, dataset_id: int, name: str, width: int, height: int, digest: str, size: int) -> Image:
        """The row of an image whose bytes are already in the blob folder, added in ``s`` (flushed: it has its id).

        The name is made free in the dataset (``a.png`` → ``a_1.png``), so the row's name may differ from ``name``.
        """
        if s.get(Dataset, dataset_id) is None:
            raise NotFoundError(f"no dataset {dataset_id}", 404)
        img = Image(dataset_id=dataset_id, name=self._free_name(s, dataset_id, name), width=width, height=height, hash=digest, size_bytes=size)
        s.add(img)
        s.flush()
        return img

    @staticmethod
    def _free_name(s: Session, dataset_id: int, name: str) -> str:
        taken = set(s.scalars(select(Image.name).where(Image.dataset_id == dataset_id, Image.name.like(f"{Path(name).stem}%"))).all())
        if name not in taken:
            return name
        stem, suffix = Path(name).stem, Path(name).suffix
        k = 1
        while f"{stem}_{k}{suffix}" in taken:
            k += 1
        return f"{stem}_{k}{suffix}"

    def add_images(self, dataset_id: int, paths: str | Path | Iterable[str | Path], recursive: bool = False) -> list[ImageInfo]:
        """Add image files, or every image of a folder."""
        if isinstance(paths, (str, Path)) and Path(paths).is_dir():
            folder = Path(paths)
            found = folder.rglob("*") if recursive else folder.iterdir()
            paths = sorted(p for p in found if p.is_file() and is_image_path(p))
        elif isinstance(paths, (str, Path)):
            paths = [paths]
        return [self.add_image(dataset_id, p) for p in paths]

    def add_video(self, dataset_id: int, path: str | Path, name: str | None = None) -> VideoInfo:
        valid_id(dataset_id, "dataset")
        name = valid_name(name if name is not None else Path(path).name, "video name")
        info = probe_video(path)
        digest = self.blobs.put_file(path)
        with self.transaction() as s:
            if s.get(Dataset, dataset_id) is None:
                raise NotFoundError(f"no dataset {dataset_id}", 404)
            v = Video(dataset_id=dataset_id, name=name, width=info.width, height=info.height, fps=info.fps,
                      frame_count=info.frame_count, hash=digest, size_bytes=Path(path).stat().st_size)
            s.add(v)
            s.flush()
            vid = v.id
        return self.video(vid)

    @retried_read
    def image(self, image_id: int) -> ImageInfo:
        valid_id(image_id, "image")
        with self.transaction() as s:
            row = s.execute(select(Image, Dataset.project_id).join(Dataset).where(Image.id == image_id)).first()
            if row is None:
                raise NotFoundError(f"no image {image_id} in this workspace", 404)
            img, pid = row
            count = s.scalar(select(func.count(Annotation.id)).where(Annotation.image_id == image_id)) or 0
            return ImageInfo(img.id, img.dataset_id, pid, img.name, img.width, img.height, img.hash, count)

    @retried_read
    def images(self, dataset_id: int | None = None, project_id: int | None = None) -> list[ImageInfo]:
        if dataset_id is not None:
            valid_id(dataset_id, "dataset")
        if project_id is not None:
            valid_id(project_id, "project")
        with self.transaction() as s:
            q = select(Image, Dataset.project_id).join(Dataset).order_by(Image.dataset_id, Image.name)
            if dataset_id is not None:
                q = q.where(Image.dataset_id == dataset_id)
            if project_id is not None:
                q = q.where(Dataset.project_id == project_id)
            counts = dict(s.execute(select(Annotation.image_id, func.count()).where(Annotation.image_id.is_not(None)).group_by(Annotation.image_id)).all())
            return [ImageInfo(i.id, i.dataset_id, pid, i.name, i.width, i.height, i.hash, counts.get(i.id, 0)) for i, pid in s.execute(q).all()]

    @retried_read
    def video(self, video_id: int) -> VideoInfo:
        valid_id(video_id, "video")
        with self.transaction() as s:
            row = s.execute(select(Video, Dataset.project_id).join(Dataset).where(Video.id == video_id)).first()
            if row is None:
                raise NotFoundError(f"no video {video_id} in this workspace", 404)
            v, pid = row
            return VideoInfo(v.id, v.dataset_id, pid, v.name, v.width, v.height, v.fps, v.frame_count, v.hash)

    @retried_read
    def videos(self, dataset_id: int) -> list[VideoInfo]:
        valid_id(dataset_id, "dataset")
        with self.transaction() as s:
            ids = s.scalars(select(Video.id).where(Video.dataset_id == dataset_id).order_by(Video.name)).all()
        return [self.video(i) for i in ids]

    def image_bytes(self, image_id: int) -> bytes:
        return self.blobs.read(self.image(image_id).hash)

    def read_image(self, image_id: int) -> np.ndarray:
        """The image's pixels as RGB."""
        return decode_image_bytes(self.image_bytes(image_id))

    def video_path(self, video_id: int) -> Path:
        return self.blobs.path(self.video(video_id).hash)

    # --- classes and annotations -----------------------------------------------------------------
    @retried_read
    def classes(self, project_id: int) -> list[ClassInfo]:
        valid_id(project_id, "project")
        with self.transaction() as s:
            rows = s.scalars(select(ObjectClass).where(ObjectClass.project_id == project_id).order_by(ObjectClass.id)).all()
            return [ClassInfo(c.id, c.name, c.shape, c.color) for c in rows]

    def ensure_classes(self, s: Session, project_id: int, wanted: dict[str, str]) -> dict[str, int]:
        """Class ids by name, adding missing classes; a name that exists with another shape is an error."""
        existing = {c.name: c for c in s.scalars(select(ObjectClass).where(ObjectClass.project_id == project_id))}
        ids = {}
        for raw, shape in wanted.items():
            name = valid_name(raw, "class name", path_safe=False)
            c = existing.get(name)
            if c is None:
                c = ObjectClass(project_id=project_id, name=name, shape=shape, color=class_color(len(existing)))
                s.add(c)
                s.flush()
                existing[name] = c
            elif c.shape != shape:
                raise InputError(
                    f"class {name!r} exists in project {project_id} as a {c.shape!r} class; objects of shape {shape!r} "
                    "cannot be added to it (rename the class or use a model of the same kind)"
                )
            ids[raw] = c.id
        return ids

    @retried_read
    def annotations(self, image_id: int | None = None, *, video_id: int | None = None, frame_idx: int | None = None) -> list[Obj]:
        if image_id is not None or video_id is None:
            valid_id(image_id, "image")
        else:
            valid_id(video_id, "video")
        if frame_idx is not None and not (is_id(frame_idx) and 0 <= frame_idx <= 2**31 - 1):
            raise InvalidSettingError(f"frame_idx must be an integer from 0, got {frame_idx!r:.80}")
        with self.transaction() as s:
            return self._objects(s, image_id=image_id, video_id=video_id, frame_idx=frame_idx)

    def _objects(self, s: Session, image_id: int | None = None, video_id: int | None = None, frame_idx: int | None = None) -> list[Obj]:
        q = select(Annotation, ObjectClass.name).join(ObjectClass).order_by(Annotation.id)
        if image_id is not None:
            q = q.where(Annotation.image_id == image_id)
        else:
            q = q.where(Annotation.video_id == video_id)
            if frame_idx is not None:
                q = q.where(Annotation.frame_idx == frame_idx)
        return [
            Obj(name, (a.x0, a.y0, a.x1, a.y1), a.mask_rle, a.score, a.track_id, a.source, a.frame_idx, a.id, a.run_id)
            for a, name in s.execute(q).all()
        ]

    def add_annotations(self, image_id: int, objects: Sequence[Obj]) -> int:
        """Add manual (or imported) objects to an image in one transaction; returns how many."""
        info = self.image(image_id)
        with self.transaction() as s:
            shapes = {o.class_name: ("mask" if o.mask_rle else "box") for o in objects}
            ids = self.ensure_classes(s, info.project_id, shapes)
            s.add_all(self.rows(objects, ids, image_id=image_id))
        return len(objects)

    @staticmethod
    def rows(objects: Iterable[Obj], class_ids: dict[str, int], image_id: int | None = None, video_id: int | None = None, run_id: int | None = None) -> list[Annotation]:
        return [
            Annotation(
                image_id=image_id,
                video_id=video_id,
                frame_idx=o.frame_idx,
                class_id=class_ids[o.class_name],
                x0=float(o.box[0]), y0=float(o.box[1]), x1=float(o.box[2]), y1=float(o.box[3]),
                mask_rle=o.mask_rle,
                score=o.score,
                track_id=o.track_id,
                source=o.source,
                run_id=run_id if run_id is not None else o.run_id,
            )
            for o in objects
        ]


# documented and shown as sightline.<name>, where users import them from
Workspace.__module__ = "sightline"
