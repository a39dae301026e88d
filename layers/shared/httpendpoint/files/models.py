"""Response models of the files API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class KeptView(BaseModel):
    id: str
    error: str


class RepinView(BaseModel):
    updated: list[str]
    kept: list[KeptView]


class FileWrittenView(BaseModel):
    path: str
    version: str
    size: int
    endpoints: RepinView


class VersionView(BaseModel):
    version: str
    size: int
    modified: str
    current: bool


class VersionsView(BaseModel):
    path: str
    versions: list[VersionView]


class NodeView(BaseModel):
    name: str
    path: str
    type: Literal["file", "folder"]
    size: int | None
    modified: str | None


class FolderView(BaseModel):
    path: str
    nodes: list[NodeView]
    next_page_token: str | None


class FileDeletedView(BaseModel):
    path: str
