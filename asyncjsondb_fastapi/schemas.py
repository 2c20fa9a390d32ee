"""The pydantic shapes of ``collection_router``: a page of items, a model's PATCH body, and the
body of its error answers."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field, create_model

T = TypeVar("T")


class Item(BaseModel, Generic[T]):
    """One record of a collection: its key and its value."""

    key: str
    value: T


class InvalidRecord(BaseModel):
    """A stored record that does not match the router's model: its key, and what is wrong."""

    key: str
    errors: list[str]


class Page(BaseModel, Generic[T]):
    """A slice of the matching records, in insertion order; ``total`` counts all matches.

    Records of the slice that do not match the model are listed in ``invalid`` instead of
    ``items``, so a page never fails and ``offset + limit`` still pages through all of them.
    """

    items: list[Item[T]]
    total: int
    limit: int
    offset: int
    invalid: list[InvalidRecord] = Field(default_factory=list)


class ErrorMessage(BaseModel):
    """The body of an error answer other than a 422: ``{"detail": "what is wrong"}``."""

    detail: str


def partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with every field optional, for PATCH bodies.

    A field that is sent is validated as in ``model`` (types, constraints, aliases; an explicit
    null only where ``model`` allows it); fields not sent are left out (``exclude_unset``).
    Model-level validators are not copied: they would judge a part as if it were the whole.
    """
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        if field.metadata:
            constrained = (annotation, *field.metadata)
            annotation = Annotated[constrained]
        optional = Field(
            default=None,
            alias=field.alias,
            title=field.title,
            description=field.description,
            examples=field.examples,
        )
        fields[name] = (annotation, optional)
    return create_model(
        f"{model.__name__}Patch",
        __config__=model.model_config,
        __doc__=f"Fields of {model.__name__} to change; those not sent are kept.",
        **fields,
    )
