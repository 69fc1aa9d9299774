"""What the API reads and writes: request and response models, and the text it can store."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.models import BODY_MAX, TITLE_MAX


def storable(text: str) -> str:
    """Refuse text PostgreSQL cannot store, instead of failing at the INSERT.

    (Lone surrogates, which JSON's "\\ud800" escapes decode to, pydantic's `str` already refuses.)
    """
    if "\x00" in text:
        raise ValueError("must not contain NUL (U+0000): PostgreSQL text cannot hold it")
    return text


# The pattern only tells clients (and schemathesis) about the NUL rule; `storable` enforces it.
_NO_NUL = {"pattern": "^[^\u0000]*$"}
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX, json_schema_extra=_NO_NUL), AfterValidator(storable)]
Body = Annotated[str, Field(max_length=BODY_MAX, json_schema_extra=_NO_NUL), AfterValidator(storable)]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    body: Body = ""


class NotePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The defaults are not validated, so an explicit null is still rejected.
    title: Title = None
    body: Body = None


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


class NotePage(BaseModel):
    items: list[NoteOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


class Problem(BaseModel):
    """An error other than a validation error: one short sentence."""

    detail: str


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]


class NotReady(BaseModel):
    status: Literal["unavailable"]
    reason: Literal["database unavailable"]


ProbeStep = Literal["create", "read", "list", "update"]


class Probe(BaseModel):
    status: Literal["ok"]
    checked: list[ProbeStep] = Field(description="The steps run, in order, on a marker note that was rolled back.")


class ProbeFailing(BaseModel):
    status: Literal["failing"]
    step: ProbeStep = Field(description="The first step that failed.")
    reason: str = Field(description="The exception's class and the first line of its message.")
