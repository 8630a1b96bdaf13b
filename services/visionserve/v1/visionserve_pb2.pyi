from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageSize(_message.Message):
    __slots__ = ("width", "height")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ClassifyRequest(_message.Message):
    __slots__ = ("images", "model", "top_k")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    model: str
    top_k: int
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., model: _Optional[str] = ..., top_k: _Optional[int] = ...) -> None: ...

class ClassScore(_message.Message):
    __slots__ = ("index", "label", "score")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    index: int
    label: str
    score: float
    def __init__(self, index: _Optional[int] = ..., label: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Classification(_message.Message):
    __slots__ = ("image", "classes")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    image: ImageSize
    classes: _containers.RepeatedCompositeFieldContainer[ClassScore]
    def __init__(self, image: _Optional[_Union[ImageSize, _Mapping]] = ..., classes: _Optional[_Iterable[_Union[ClassScore, _Mapping]]] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("request_id", "model", "model_version", "results")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    model: str
    model_version: str
    results: _containers.RepeatedCompositeFieldContainer[Classification]
    def __init__(self, request_id: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., results: _Optional[_Iterable[_Union[Classification, _Mapping]]] = ...) -> None: ...

class DetectRequest(_message.Message):
    __slots__ = ("images", "model", "score_threshold", "iou_threshold", "max_detections")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    IOU_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MAX_DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    model: str
    score_threshold: float
    iou_threshold: float
    max_detections: int
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., model: _Optional[str] = ..., score_threshold: _Optional[float] = ..., iou_threshold: _Optional[float] = ..., max_detections: _Optional[int] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("box", "label", "class_index", "score")
    BOX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    box: _containers.RepeatedScalarFieldContainer[float]
    label: str
    class_index: int
    score: float
    def __init__(self, box: _Optional[_Iterable[float]] = ..., label: _Optional[str] = ..., class_index: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class DetectionResult(_message.Message):
    __slots__ = ("image", "detections")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    image: ImageSize
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    def __init__(self, image: _Optional[_Union[ImageSize, _Mapping]] = ..., detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ...) -> None: ...

class DetectResponse(_message.Message):
    __slots__ = ("request_id", "model", "model_version", "results")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    model: str
    model_version: str
    results: _containers.RepeatedCompositeFieldContainer[DetectionResult]
    def __init__(self, request_id: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., results: _Optional[_Iterable[_Union[DetectionResult, _Mapping]]] = ...) -> None: ...

class SegmentRequest(_message.Message):
    __slots__ = ("images", "model", "classes", "include_masks", "include_label_map", "include_scores", "score_threshold", "mask_threshold", "max_detections")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_MASKS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_LABEL_MAP_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SCORES_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MASK_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MAX_DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    model: str
    classes: _containers.RepeatedScalarFieldContainer[str]
    include_masks: bool
    include_label_map: bool
    include_scores: bool
    score_threshold: float
    mask_threshold: float
    max_detections: int
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., model: _Optional[str] = ..., classes: _Optional[_Iterable[str]] = ..., include_masks: _Optional[bool] = ..., include_label_map: _Optional[bool] = ..., include_scores: _Optional[bool] = ..., score_threshold: _Optional[float] = ..., mask_threshold: _Optional[float] = ..., max_detections: _Optional[int] = ...) -> None: ...

class RLE(_message.Message):
    __slots__ = ("size", "counts")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    size: _containers.RepeatedScalarFieldContainer[int]
    counts: str
    def __init__(self, size: _Optional[_Iterable[int]] = ..., counts: _Optional[str] = ...) -> None: ...

class SegmentClass(_message.Message):
    __slots__ = ("index", "label", "pixel_share", "score", "mask")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PIXEL_SHARE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    index: int
    label: str
    pixel_share: float
    score: float
    mask: RLE
    def __init__(self, index: _Optional[int] = ..., label: _Optional[str] = ..., pixel_share: _Optional[float] = ..., score: _Optional[float] = ..., mask: _Optional[_Union[RLE, _Mapping]] = ...) -> None: ...

class SemanticSegmentation(_message.Message):
    __slots__ = ("kind", "image", "classes", "label_map_png", "score_maps_png")
    class ScoreMapsPngEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    LABEL_MAP_PNG_FIELD_NUMBER: _ClassVar[int]
    SCORE_MAPS_PNG_FIELD_NUMBER: _ClassVar[int]
    kind: str
    image: ImageSize
    classes: _containers.RepeatedCompositeFieldContainer[SegmentClass]
    label_map_png: str
    score_maps_png: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[str] = ..., image: _Optional[_Union[ImageSize, _Mapping]] = ..., classes: _Optional[_Iterable[_Union[SegmentClass, _Mapping]]] = ..., label_map_png: _Optional[str] = ..., score_maps_png: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Instance(_message.Message):
    __slots__ = ("box", "label", "class_index", "score", "mask")
    BOX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    box: _containers.RepeatedScalarFieldContainer[float]
    label: str
    class_index: int
    score: float
    mask: RLE
    def __init__(self, box: _Optional[_Iterable[float]] = ..., label: _Optional[str] = ..., class_index: _Optional[int] = ..., score: _Optional[float] = ..., mask: _Optional[_Union[RLE, _Mapping]] = ...) -> None: ...

class InstanceSegmentation(_message.Message):
    __slots__ = ("kind", "image", "instances")
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    image: ImageSize
    instances: _containers.RepeatedCompositeFieldContainer[Instance]
    def __init__(self, kind: _Optional[str] = ..., image: _Optional[_Union[ImageSize, _Mapping]] = ..., instances: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ...) -> None: ...

class SegmentationResult(_message.Message):
    __slots__ = ("semantic", "instance")
    SEMANTIC_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    semantic: SemanticSegmentation
    instance: InstanceSegmentation
    def __init__(self, semantic: _Optional[_Union[SemanticSegmentation, _Mapping]] = ..., instance: _Optional[_Union[InstanceSegmentation, _Mapping]] = ...) -> None: ...

class SegmentResponse(_message.Message):
    __slots__ = ("request_id", "model", "model_version", "results")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    model: str
    model_version: str
    results: _containers.RepeatedCompositeFieldContainer[SegmentationResult]
    def __init__(self, request_id: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., results: _Optional[_Iterable[_Union[SegmentationResult, _Mapping]]] = ...) -> None: ...

class EmbedImageRequest(_message.Message):
    __slots__ = ("images", "model", "dtype")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    model: str
    dtype: str
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., model: _Optional[str] = ..., dtype: _Optional[str] = ...) -> None: ...

class ImageEmbedding(_message.Message):
    __slots__ = ("image", "embedding")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    image: ImageSize
    embedding: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, image: _Optional[_Union[ImageSize, _Mapping]] = ..., embedding: _Optional[_Iterable[float]] = ...) -> None: ...

class EmbedImageResponse(_message.Message):
    __slots__ = ("request_id", "model", "model_version", "dtype", "dim", "results")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    model: str
    model_version: str
    dtype: str
    dim: int
    results: _containers.RepeatedCompositeFieldContainer[ImageEmbedding]
    def __init__(self, request_id: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., dtype: _Optional[str] = ..., dim: _Optional[int] = ..., results: _Optional[_Iterable[_Union[ImageEmbedding, _Mapping]]] = ...) -> None: ...

class EmbedTextRequest(_message.Message):
    __slots__ = ("texts", "model", "dtype")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    model: str
    dtype: str
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ..., dtype: _Optional[str] = ...) -> None: ...

class TextEmbedding(_message.Message):
    __slots__ = ("text", "tokens", "embedding")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    text: str
    tokens: int
    embedding: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, text: _Optional[str] = ..., tokens: _Optional[int] = ..., embedding: _Optional[_Iterable[float]] = ...) -> None: ...

class EmbedTextResponse(_message.Message):
    __slots__ = ("request_id", "model", "model_version", "dtype", "dim", "results")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    model: str
    model_version: str
    dtype: str
    dim: int
    results: _containers.RepeatedCompositeFieldContainer[TextEmbedding]
    def __init__(self, request_id: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., dtype: _Optional[str] = ..., dim: _Optional[int] = ..., results: _Optional[_Iterable[_Union[TextEmbedding, _Mapping]]] = ...) -> None: ...

class ZeroShotRequest(_message.Message):
    __slots__ = ("images", "model", "labels", "label_set", "templates", "top_k")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    model: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    label_set: str
    templates: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., model: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., label_set: _Optional[str] = ..., templates: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ...) -> None: ...

class LabelScore(_message.Message):
    __slots__ = ("label", "score", "similarity")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    similarity: float
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ..., similarity: _Optional[float] = ...) -> None: ...

class ZeroShotResult(_message.Message):
    __slots__ = ("image", "scores")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    image: ImageSize
    scores: _containers.RepeatedCompositeFieldContainer[LabelScore]
    def __init__(self, image: _Optional[_Union[ImageSize, _Mapping]] = ..., scores: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ...) -> None: ...

class ZeroShotResponse(_message.Message):
    __slots__ = ("request_id", "model", "model_version", "scoring", "logit_scale", "logit_bias", "results")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORING_FIELD_NUMBER: _ClassVar[int]
    LOGIT_SCALE_FIELD_NUMBER: _ClassVar[int]
    LOGIT_BIAS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    model: str
    model_version: str
    scoring: str
    logit_scale: float
    logit_bias: float
    results: _containers.RepeatedCompositeFieldContainer[ZeroShotResult]
    def __init__(self, request_id: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., scoring: _Optional[str] = ..., logit_scale: _Optional[float] = ..., logit_bias: _Optional[float] = ..., results: _Optional[_Iterable[_Union[ZeroShotResult, _Mapping]]] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("images", "model", "methods", "target_class", "target_label", "target_text", "target_box_index", "target_box", "layer", "steps", "baseline", "samples", "noise_level", "seed", "patch", "stride", "fill", "masks", "grid", "probability", "fidelity", "overlay", "input_map")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    TARGET_CLASS_FIELD_NUMBER: _ClassVar[int]
    TARGET_LABEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_TEXT_FIELD_NUMBER: _ClassVar[int]
    TARGET_BOX_INDEX_FIELD_NUMBER: _ClassVar[int]
    TARGET_BOX_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    NOISE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    MASKS_FIELD_NUMBER: _ClassVar[int]
    GRID_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    OVERLAY_FIELD_NUMBER: _ClassVar[int]
    INPUT_MAP_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    model: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    target_class: int
    target_label: str
    target_text: str
    target_box_index: int
    target_box: _containers.RepeatedScalarFieldContainer[float]
    layer: str
    steps: int
    baseline: str
    samples: int
    noise_level: float
    seed: int
    patch: int
    stride: int
    fill: float
    masks: int
    grid: int
    probability: float
    fidelity: bool
    overlay: bool
    input_map: bool
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., model: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., target_class: _Optional[int] = ..., target_label: _Optional[str] = ..., target_text: _Optional[str] = ..., target_box_index: _Optional[int] = ..., target_box: _Optional[_Iterable[float]] = ..., layer: _Optional[str] = ..., steps: _Optional[int] = ..., baseline: _Optional[str] = ..., samples: _Optional[int] = ..., noise_level: _Optional[float] = ..., seed: _Optional[int] = ..., patch: _Optional[int] = ..., stride: _Optional[int] = ..., fill: _Optional[float] = ..., masks: _Optional[int] = ..., grid: _Optional[int] = ..., probability: _Optional[float] = ..., fidelity: _Optional[bool] = ..., overlay: _Optional[bool] = ..., input_map: _Optional[bool] = ...) -> None: ...

class FloatMap(_message.Message):
    __slots__ = ("shape", "dtype", "scale", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    scale: float
    data: str
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ..., scale: _Optional[float] = ..., data: _Optional[str] = ...) -> None: ...

class Fidelity(_message.Message):
    __slots__ = ("deletion_auc", "insertion_auc")
    DELETION_AUC_FIELD_NUMBER: _ClassVar[int]
    INSERTION_AUC_FIELD_NUMBER: _ClassVar[int]
    deletion_auc: float
    insertion_auc: float
    def __init__(self, deletion_auc: _Optional[float] = ..., insertion_auc: _Optional[float] = ...) -> None: ...

class ExplainTarget(_message.Message):
    __slots__ = ("kind", "index", "label", "text", "box", "score")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    index: int
    label: str
    text: str
    box: _containers.RepeatedScalarFieldContainer[float]
    score: float
    def __init__(self, kind: _Optional[str] = ..., index: _Optional[int] = ..., label: _Optional[str] = ..., text: _Optional[str] = ..., box: _Optional[_Iterable[float]] = ..., score: _Optional[float] = ...) -> None: ...

class MethodExplanation(_message.Message):
    __slots__ = ("method", "layer", "params", "raw", "signed", "normalized_png", "overlay_png", "fidelity", "seconds", "input_map", "fidelity_seconds")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    SIGNED_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_PNG_FIELD_NUMBER: _ClassVar[int]
    OVERLAY_PNG_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    INPUT_MAP_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    method: str
    layer: str
    params: _struct_pb2.Struct
    raw: FloatMap
    signed: bool
    normalized_png: str
    overlay_png: str
    fidelity: Fidelity
    seconds: float
    input_map: FloatMap
    fidelity_seconds: float
    def __init__(self, method: _Optional[str] = ..., layer: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., raw: _Optional[_Union[FloatMap, _Mapping]] = ..., signed: _Optional[bool] = ..., normalized_png: _Optional[str] = ..., overlay_png: _Optional[str] = ..., fidelity: _Optional[_Union[Fidelity, _Mapping]] = ..., seconds: _Optional[float] = ..., input_map: _Optional[_Union[FloatMap, _Mapping]] = ..., fidelity_seconds: _Optional[float] = ...) -> None: ...

class InputGeometry(_message.Message):
    __slots__ = ("input_size", "input_box", "image_box")
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    INPUT_BOX_FIELD_NUMBER: _ClassVar[int]
    IMAGE_BOX_FIELD_NUMBER: _ClassVar[int]
    input_size: _containers.RepeatedScalarFieldContainer[int]
    input_box: _containers.RepeatedScalarFieldContainer[int]
    image_box: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, input_size: _Optional[_Iterable[int]] = ..., input_box: _Optional[_Iterable[int]] = ..., image_box: _Optional[_Iterable[int]] = ...) -> None: ...

class ExplainResult(_message.Message):
    __slots__ = ("image", "target", "explanations", "geometry")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    GEOMETRY_FIELD_NUMBER: _ClassVar[int]
    image: ImageSize
    target: ExplainTarget
    explanations: _containers.RepeatedCompositeFieldContainer[MethodExplanation]
    geometry: InputGeometry
    def __init__(self, image: _Optional[_Union[ImageSize, _Mapping]] = ..., target: _Optional[_Union[ExplainTarget, _Mapping]] = ..., explanations: _Optional[_Iterable[_Union[MethodExplanation, _Mapping]]] = ..., geometry: _Optional[_Union[InputGeometry, _Mapping]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("request_id", "model", "model_version", "results")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    model: str
    model_version: str
    results: _containers.RepeatedCompositeFieldContainer[ExplainResult]
    def __init__(self, request_id: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., results: _Optional[_Iterable[_Union[ExplainResult, _Mapping]]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "task", "ready", "model_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    task: str
    ready: bool
    model_version: str
    def __init__(self, name: _Optional[str] = ..., task: _Optional[str] = ..., ready: _Optional[bool] = ..., model_version: _Optional[str] = ...) -> None: ...

class ModelList(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...
