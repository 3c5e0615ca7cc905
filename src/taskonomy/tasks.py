"""The task dictionary: one table that describes every Taskonomy task.

Every other module (data derivation, loader, models, losses, the config schema, the
paper-table loader) reads task facts from here and nowhere else. Task ids are the real
Taskonomy dataset's domain ids; ``paper`` is the spelling of the authors' released files
(``affinity_16k.csv`` and friends), so both spellings resolve to the same task.

    >>> from taskonomy.tasks import TASKS, resolve
    >>> resolve("rgb2sfnorm")
    'normal'
    >>> TASKS["normal"].channels
    3
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

# Class vocabularies of the embedded synthetic data. They live here because the
# output width of three tasks (segment_semantic, class_object, class_scene) depends on them.
SCENE_CLASSES: tuple[str, ...] = ("bathroom", "bedroom", "kitchen", "living_room", "office")
# Index 0 is "no object" (walls, floor, ceiling and missing data): the real dataset's
# segmentsemantic likewise labels only objects and leaves the structure as background.
SEMANTIC_CLASSES: tuple[str, ...] = (
    "background", "bed", "chair", "table", "sofa", "cabinet", "shelf", "lamp", "desk",
    "monitor", "plant", "toilet", "sink", "bathtub", "counter", "stool", "ball",
    "rug", "picture", "door",
)
OBJECT_CLASSES: tuple[str, ...] = SEMANTIC_CLASSES[1:]
JIGSAW_PERMUTATIONS = 64   # size of the fixed permutation set (the paper used 1000)
# Per-pixel embedding of the unsupervised segmentations. 16 dimensions separate the few dozen
# segments of a view; 64 made these two targets' decoders (a 64-channel full-resolution conv)
# and their metric loss cost a third of Stage II on CPU.
EMBEDDING_DIM = 16

# kinds
PIXEL = "pixel"            # dense regression, one output map of `channels` channels
EMBEDDING = "embedding"    # dense embedding trained with a metric loss
CLASSES = "classes"        # dense classification (semantic segmentation)
LOWDIM = "lowdim"          # a vector per image (FC head)
SIAMESE = "siamese"        # a vector per tuple of views / tiles, encoder shared between towers
NONE = "none"              # the random-projection source: no decoder, no loss


@dataclass(frozen=True)
class Task:
    id: str                 # Taskonomy domain id, used in paths and configs
    paper: str              # spelling in the paper's released tables
    kind: str               # one of the kinds above
    channels: int           # output width (channels of a map, or length of a vector)
    loss: str               # l1 | l2 | l1_masked | ce | ce_rebalanced | kl | metric | none
    source_only: bool = False
    views: int = 1          # images per sample (2/3 views, 9 jigsaw tiles)
    input: str = "rgb"      # what the encoder sees: rgb | gray | noisy_rgb | masked_rgb | tiles
    load_time: bool = False  # made by the loader from the RGB rather than stored on disk
    group: str = "2d"       # 2d | 3d | semantic | geometric | other (for colouring plots)
    description: str = ""


_T = Task
TASK_LIST: tuple[Task, ...] = (
    _T("autoencoding", "autoencoder", PIXEL, 3, "l1", load_time=True, group="2d",
       description="reconstruct the RGB"),
    _T("denoising", "denoise", PIXEL, 3, "l1", input="noisy_rgb", load_time=True, group="2d",
       description="clean RGB from RGB with Gaussian noise"),
    _T("colorization", "colorization", PIXEL, 2, "l1", source_only=True, input="gray",
       load_time=True, group="2d", description="Lab ab channels from grayscale"),
    _T("inpainting", "impainting_whole", PIXEL, 3, "l1", source_only=True, input="masked_rgb",
       load_time=True, group="2d", description="fill the masked centre of the image"),
    _T("edge_texture", "edge2d", PIXEL, 1, "l1", group="2d", description="edges of the RGB"),
    _T("edge_occlusion", "edge3d", PIXEL, 1, "l1", group="3d",
       description="depth discontinuities"),
    _T("keypoints2d", "keypoint2d", PIXEL, 1, "l1", group="2d",
       description="multi-scale Hessian keypoint response"),
    _T("keypoints3d", "keypoint3d", PIXEL, 1, "l1", group="3d",
       description="keypoint response on geometry"),
    _T("principal_curvature", "curvature", PIXEL, 2, "l2", group="3d",
       description="principal curvatures k1, k2"),
    _T("normal", "rgb2sfnorm", PIXEL, 3, "l1", group="3d",
       description="surface normals in the camera frame"),
    _T("reshading", "reshade", PIXEL, 1, "l1", group="3d",
       description="Lambertian shading with the light at the camera"),
    _T("depth_zbuffer", "rgb2depth", PIXEL, 1, "l1_masked", group="3d",
       description="z-buffer depth"),
    _T("depth_euclidean", "rgb2mist", PIXEL, 1, "l1_masked", group="3d",
       description="euclidean distance to the camera"),
    _T("segment_unsup2d", "segment2d", EMBEDDING, EMBEDDING_DIM, "metric", group="2d",
       description="felzenszwalb segments of the RGB"),
    _T("segment_unsup25d", "segment25d", EMBEDDING, EMBEDDING_DIM, "metric", group="3d",
       description="felzenszwalb segments of depth, normals and curvature"),
    _T("segment_semantic", "segmentsemantic_rb", CLASSES, len(SEMANTIC_CLASSES),
       "ce_rebalanced", group="semantic", description="object class of every pixel"),
    _T("class_object", "class_1000", LOWDIM, len(OBJECT_CLASSES), "kl", group="semantic",
       description="pixel share of each object class"),
    _T("class_scene", "class_places", LOWDIM, len(SCENE_CLASSES), "ce", group="semantic",
       description="room type"),
    _T("room_layout", "room_layout", LOWDIM, 9, "l2", group="geometric",
       description="room box relative to the camera"),
    _T("vanishing_point", "vanishing_point_well_defined", LOWDIM, 9, "l2", group="geometric",
       description="three Manhattan directions in the camera frame"),
    _T("fixated_pose", "fix_pose", SIAMESE, 6, "l2", views=2, group="geometric",
       description="relative pose of two views fixating one point"),
    _T("nonfixated_pose", "non_fixated_pose", SIAMESE, 6, "l2", views=2, group="geometric",
       description="relative pose of two views sharing content"),
    _T("point_matching", "point_match", SIAMESE, 2, "ce", views=2, group="geometric",
       description="do two views look at the same point"),
    _T("egomotion", "ego_motion", SIAMESE, 18, "l2", views=3, group="geometric",
       description="three relative poses of three views"),
    _T("jigsaw", "jigsaw", SIAMESE, JIGSAW_PERMUTATIONS, "ce", source_only=True, views=9,
       input="tiles", load_time=True, group="2d", description="permutation of 9 tiles"),
    _T("random", "random", NONE, 0, "none", source_only=True, group="other",
       description="frozen randomly initialised encoder (random projection)"),
)

TASKS: dict[str, Task] = {t.id: t for t in TASK_LIST}
TASK_IDS: tuple[str, ...] = tuple(TASKS)
PAPER_TO_ID: dict[str, str] = {t.paper: t.id for t in TASK_LIST}
ID_TO_PAPER: dict[str, str] = {t.id: t.paper for t in TASK_LIST}
SOURCE_ONLY: tuple[str, ...] = tuple(t.id for t in TASK_LIST if t.source_only)
TARGETS: tuple[str, ...] = tuple(t.id for t in TASK_LIST if not t.source_only)

# Names that appear in source sets but are not tasks of the dictionary.
SPECIAL_SOURCES = ("self", "pixels")


class UnknownTaskError(ValueError):
    """A task name that is neither a domain id nor a paper spelling."""


def resolve(name: str) -> str:
    """Domain id of a task given either spelling (case-insensitive, '-' == '_')."""
    key = name.strip().lower().replace("-", "_")
    if key in TASKS:
        return key
    if key in PAPER_TO_ID:
        return PAPER_TO_ID[key]
    valid = ", ".join(f"{t.id} ({t.paper})" if t.paper != t.id else t.id for t in TASK_LIST)
    raise UnknownTaskError(f"unknown task {name!r}; valid tasks (domain id (paper spelling)): {valid}")


def resolve_all(names: Iterable[str]) -> list[str]:
    """Resolve every name; report all unknown names at once."""
    out, bad = [], []
    for n in names:
        try:
            out.append(resolve(n))
        except UnknownTaskError:
            bad.append(n)
    if bad:
        try:
            resolve(bad[0])
        except UnknownTaskError as e:
            msg = str(e).split("; ", 1)[1]
        raise UnknownTaskError(f"unknown task(s) {', '.join(map(repr, bad))}; {msg}")
    return out


def source_set_name(sources: Iterable[str]) -> str:
    """Canonical name of a source set: sorted ids joined with '+' (ids contain '_')."""
    return "+".join(sorted(sources))


def parse_source_set(name: str) -> tuple[str, ...]:
    return tuple(name.split("+"))
