"""Read images and parameters from an HTTP request, enforcing the request limits.

Three ways to send images, each with parameters as typed in the task's JSON schema:

- ``multipart/form-data``: every file part is an image, in order; other fields are parameters.
- a raw image body (``image/*`` or ``application/octet-stream``): one image; parameters in
  the query string.
- ``application/json``: the task's request schema, images as base64 strings.

Query-string parameters apply to every kind; a body field of the same name wins. A list
parameter (``classes``, ``labels``) is sent as repeated fields: ``-F labels=cat -F labels=dog``. Every
image's header is probed here, so an image that is not one, or one over the pixel limit,
is refused before any work is queued.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from visionserve.config import LimitsConfig, UnderstandConfig
from visionserve.errors import (
    BadRequest,
    EmptyRequest,
    InvalidBase64,
    PayloadTooLarge,
    ServiceError,
    TooManyImages,
    Unprocessable,
    UnsupportedMediaType,
)
from visionserve.imaging import probe
from visionserve.ingress.errors import shown, validation_problems

_RAW_TYPES = ("image/", "application/octet-stream")
SchemaT = TypeVar("SchemaT", bound=BaseModel)


@dataclass(frozen=True)
class ParsedRequest:
    images: list[bytes]
    params: dict[str, Any]
    """Validated parameters other than ``images`` and ``model``, without unset ones."""
    model: str | None


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {int(declared):,} bytes, over the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette's form parser reads the body from here once the stream is consumed.
    request._body = body
    return body


def b64_image(value: str, index: int) -> bytes:
    text = value.strip()
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or ";base64" not in header:
            raise InvalidBase64(f"image {index}: a data: URI must be ';base64,'-encoded")
    text = "".join(text.split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBase64(f"image {index} is not valid base64") from None


MAX_FIELD_CHARS = 4096
"""Longest string a parameter may hold (labels, texts, layer names...): images travel apart."""
_MAX_INTEGER = 2**53
"""Past this an integer is exact neither in JSON nor in the float64 most computations use."""


def _value_problems(where: str, value: Any) -> list[str]:
    """Values that validate but no computation should meet: NUL characters and over-long
    strings (databases and file systems refuse the one, every step pays for the other), and
    numbers that are not finite or too large for float64."""
    if isinstance(value, str):
        if "\x00" in value:
            return [f"{where}: contains a NUL character"]
        if len(value) > MAX_FIELD_CHARS:
            return [f"{where}: {len(value):,} characters, over the limit of {MAX_FIELD_CHARS:,}"]
    elif isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: must be a finite number, got {value}"]
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INTEGER:
        return [f"{where}: {shown(str(value), 20)} is out of range"]
    elif isinstance(value, (list, tuple)):
        return [p for i, item in enumerate(value) for p in _value_problems(f"{where}.{i}", item)]
    elif isinstance(value, dict):
        return [p for k, item in value.items() for p in _value_problems(f"{where}.{shown(str(k))}", item)]
    return []


def validate_fields(schema: type[BaseModel], fields: dict[str, Any]) -> BaseModel:
    """The schema's model of ``fields``: Unprocessable naming every bad field."""
    try:
        validated = schema.model_validate(fields)
    except ValidationError as exc:
        raise Unprocessable(validation_problems(exc.errors())) from None
    problems = [
        p
        for name, value in validated.model_dump(exclude={"images"}).items()
        for p in _value_problems(name, value)
    ]
    if problems:
        raise Unprocessable("; ".join(problems[:20]))
    return validated


async def parse_request(request: Request, schema: type[BaseModel], limits: LimitsConfig) -> ParsedRequest:
    """Images and validated parameters; raises a ServiceError for every bad input."""
    list_fields = _list_fields(schema)
    fields: dict[str, Any] = _collect(request.query_params.multi_items(), list_fields)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, limits.max_body_bytes)
    images: list[bytes]
    if not body:
        raise EmptyRequest(
            "the request has no body: send images as multipart files, a raw image body, "
            'or JSON {"images": [base64, ...]}'
        )
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=limits.max_images_per_request + 1, max_fields=64)
        except Exception as exc:  # starlette raises its own HTTPException or MultiPartException
            detail = str(getattr(exc, "detail", exc))
            if "Too many files" in detail:
                raise TooManyImages(
                    f"more than {limits.max_images_per_request} images in one request"
                ) from None
            raise BadRequest(f"malformed multipart body: {detail}") from None
        images = []
        texts = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                images.append(await value.read())
            else:
                texts.append((key, value))
        fields.update(_collect(texts, list_fields))
        if "images" in fields:
            raise Unprocessable("'images' must be sent as file parts, not as a text field")
        fields["images"] = []
    elif content_type == "application/json":
        try:
            document = _json_object(body)
        except ValueError as exc:
            raise BadRequest(f"malformed JSON body: {exc}") from None
        fields.update(document)
        raw = fields.get("images")
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise Unprocessable("'images' must be a list of base64 strings")
        images = [b64_image(item, i) for i, item in enumerate(raw)]
        fields["images"] = []
    elif content_type.startswith(_RAW_TYPES):
        images = [body]
        fields["images"] = []
    else:
        raise UnsupportedMediaType(
            f"unsupported content-type {content_type or '(none)'!r}: use multipart/form-data, "
            "application/json, or an image/* body"
        )
    parsed = validate_fields(schema, fields)
    check_images(images, limits)
    params = parsed.model_dump(exclude={"images", "model"}, exclude_none=True)
    return ParsedRequest(images=images, params=params, model=getattr(parsed, "model", None))


def check_images(images: list[bytes], limits: LimitsConfig, *, count: int | None = None) -> None:
    """At least one image and no more than the limit (``count`` when some came as pixels), and
    every encoded image's header probed: the checks every protocol makes before queuing work."""
    count = len(images) if count is None else count
    if count == 0:
        raise EmptyRequest("the request holds no image")
    limit = limits.max_images_per_request
    if count > limit:
        raise TooManyImages(f"{count} images in one request, over the limit of {limit}")
    for index, data in enumerate(images):
        try:
            probe(data, max_pixels=limits.max_image_pixels)
        except ServiceError as exc:
            where = f"image {index}: " if count > 1 else ""
            raise type(exc)(f"{where}{exc.message}") from None


async def parse_json(request: Request, schema: type[SchemaT], limits: LimitsConfig) -> SchemaT:
    """A JSON body validated against ``schema``, within the body-size limit."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType(f"send application/json, not {content_type or '(none)'!r}")
    body = await read_body(request, limits.max_body_bytes)
    try:
        document = _json_object(body)
    except ValueError as exc:
        raise BadRequest(f"malformed JSON body: {exc}") from None
    return validate_fields(schema, document)  # type: ignore[return-value]


def _list_fields(schema: type[BaseModel]) -> set[str]:
    return {
        name
        for name, field in schema.model_fields.items()
        if name != "images" and "list[" in str(field.annotation)
    }


def _collect(items: list[tuple[str, str]], list_fields: set[str]) -> dict[str, Any]:
    """Text fields to values; a list field is sent as repeated fields (labels may hold commas)."""
    fields: dict[str, Any] = {}
    for key, value in items:
        if key in list_fields:
            fields.setdefault(key, []).append(value)
        else:
            fields[key] = value
    return fields


def json_document(data: bytes | str) -> Any:
    """Parsed JSON; ValueError for anything that is not (nested too deeply included: Python's
    parser recurses, and a few KB of brackets would otherwise end in a RecursionError)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason}") from None


def _json_object(body: bytes) -> dict[str, Any]:
    document = json_document(body)
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")
    return document


async def read_named_files(
    request: Request, limits: LimitsConfig, understand: UnderstandConfig
) -> tuple[str, list[tuple[str, bytes]]]:
    """A multipart upload of named files and a ``name`` field (a reference image set): file
    names are kept, since the set's answers cite them."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            'send the images as multipart files with a "name" field, or JSON {"name", "folder"}'
        )
    await read_body(request, limits.max_body_bytes)
    try:
        form = await request.form(max_files=understand.max_reference_images + 1, max_fields=8)
    except Exception as exc:
        raise BadRequest(f"malformed multipart body: {getattr(exc, 'detail', exc)}") from None
    files = [
        (v.filename or f"image-{i}", await v.read())
        for i, v in enumerate(form.getlist("images"))
        if isinstance(v, UploadFile)
    ]
    name = form.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Unprocessable('a reference set needs a "name" field')
    if not files:
        raise EmptyRequest('a reference set needs images: multipart files named "images"')
    if len(files) > understand.max_reference_images:
        raise TooManyImages(
            f"{len(files)} images, over understand.max_reference_images {understand.max_reference_images}"
        )
    return name.strip(), files
