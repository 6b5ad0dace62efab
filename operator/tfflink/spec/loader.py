"""Reading job.yaml into a TFFlinkJob, with every problem reported by its field path.

Users fix a job file from the messages alone, so each message reads
``spec.roles.worker.replicas: must be >= 1`` and all problems come out at once.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import PermanentFailure
from .models import TFFlinkJob


class SpecError(PermanentFailure):
    """A job file that cannot run; ``problems`` holds one line per mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "must match {pattern}",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-after["):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def format_errors(err: ValidationError) -> list[str]:
    """Turn pydantic's errors into ``field.path: message`` lines."""
    lines = []
    for e in err.errors():
        path = _path(e["loc"])
        ctx = e.get("ctx") or {}
        template = _MESSAGES.get(e["type"])
        if template is not None:
            msg = template.format(**ctx)
        elif e["type"] in ("literal_error", "enum"):
            msg = f"must be one of {ctx.get('expected')}, got {e.get('input')!r}"
        elif e["type"] == "value_error":
            msg = str(ctx.get("error", e["msg"]))
            # Cross-field rules name their field first: "backoff.maxSeconds: must be ...".
            head, sep, rest = msg.partition(": ")
            if sep and " " not in head:
                path, msg = f"{path}.{head}" if path else head, rest
        else:
            msg = e["msg"][0].lower() + e["msg"][1:]
        lines.append(f"{path or '<document>'}: {msg}")
    return lines


def parse_job(data: Any, source: str = "<job>") -> TFFlinkJob:
    """Validate an already-parsed document; raise SpecError listing every problem."""
    if not isinstance(data, dict):
        raise SpecError(source, ["<document>: must be a mapping with apiVersion, kind, metadata, spec"])
    try:
        return TFFlinkJob.model_validate(data)
    except ValidationError as err:
        raise SpecError(source, format_errors(err)) from None


def resolve_path(base_dir: str | None, path: str) -> str:
    """``path`` made absolute against the job file's directory; URIs (gs://, s3://) untouched."""
    if "://" in path or os.path.isabs(path) or not base_dir:
        return path
    return os.path.normpath(os.path.join(base_dir, path))


@dataclass(frozen=True)
class LoadedJob:
    """A validated job and the directory its relative paths are resolved against."""

    job: TFFlinkJob
    path: Path
    base_dir: Path

    def resolve(self, path: str) -> str:
        """A path of the job (checkpointDir, logDir, ...) as the nodes see it."""
        return resolve_path(str(self.base_dir), path)

    def entry_file(self) -> Path | None:
        """The entry's .py file as an absolute path (None for a module entry)."""
        entry = self.job.spec.entry
        # absolute, but symlinks kept: a ConfigMap mount links each file into a timestamped
        # directory that differs from pod to pod (the submitter's is not the TaskManager's)
        return Path(os.path.normpath(self.base_dir / entry.file)) if entry and entry.file else None


MAX_DOCUMENT_BYTES = 1 << 20  # a job file; data belongs in files the job reads
MAX_NODES = 100_000  # YAML nodes after expanding aliases (an alias bomb expands to billions)
MAX_DEPTH = 100  # nesting of mappings and sequences


class _TooBig(Exception):
    pass


def _expanded_size(root: yaml.Node) -> int:
    """Nodes of ``root`` with every alias expanded, without expanding anything (memoised);
    raises _TooBig past MAX_NODES or MAX_DEPTH and on a recursive alias."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # iterative post-order walk: (node, depth, children done?)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1
            for child in _children(node):
                total += sizes[id(child)]
                if total > MAX_NODES:
                    raise _TooBig(f"YAML aliases expand to more than {MAX_NODES} nodes (an alias bomb?)")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _TooBig("a YAML alias refers to a node that contains it (recursive alias)")
        if depth > MAX_DEPTH:
            raise _TooBig(f"nested more than {MAX_DEPTH} levels deep")
        on_path.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _TooBig("a YAML alias refers to a node that contains it (recursive alias)")
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for kv in node.value for n in kv]
    return []


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents whose expanded size or nesting is unbounded."""

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            _expanded_size(node)
        return node


def load_yaml_documents(text: str, source: str) -> list[Any]:
    """The non-empty YAML documents of ``text``; SpecError for invalid, huge or bomb-like YAML."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise SpecError(
            source,
            [
                f"<document>: {len(text.encode('utf-8', 'surrogatepass'))} bytes, over the "
                f"{MAX_DOCUMENT_BYTES}-byte limit of a job file"
            ],
        )
    try:
        return [d for d in yaml.load_all(text, Loader=_BoundedLoader) if d is not None]  # safe loader
    except _TooBig as e:
        raise SpecError(source, [f"<document>: {e}"]) from None
    except RecursionError:
        raise SpecError(source, [f"<document>: nested more than {MAX_DEPTH} levels deep"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(source, [f"{where}invalid YAML: {problem}"]) from None


def load_job(path: str | Path) -> LoadedJob:
    """Read and validate a job file; raise SpecError (the CLI exits 2)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)
        text = raw.decode("utf-8")
    except OSError as e:
        raise SpecError(str(p), [f"cannot read job file: {e.strerror}"]) from None
    except UnicodeDecodeError as e:
        raise SpecError(str(p), [f"<document>: not UTF-8 text (byte {e.start})"]) from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise SpecError(str(p), [f"<document>: over the {MAX_DOCUMENT_BYTES}-byte limit of a job file"])
    docs = load_yaml_documents(text, str(p))
    if len(docs) != 1:
        raise SpecError(str(p), [f"<document>: expected one YAML document, found {len(docs)}"])
    path = Path(os.path.normpath(p.absolute()))  # symlinks kept (see LoadedJob.entry_file)
    return LoadedJob(job=parse_job(docs[0], str(p)), path=path, base_dir=path.parent)


def check_entry(loaded: LoadedJob) -> None:
    """Check the entry file/module and function exist, without importing user code.

    Importing would pull in TensorFlow (seconds); parsing the source is enough to catch the
    common mistakes before any Flink process starts.
    """
    entry = loaded.job.spec.entry
    src = str(loaded.path)
    if entry is None:  # inference mode: no TF function to check
        return
    if entry.file:
        file = loaded.entry_file()
        assert file is not None
        if not file.is_file():
            raise SpecError(src, [f"spec.entry.file: {entry.file} not found (looked at {file})"])
    else:
        assert entry.module
        try:
            found = importlib.util.find_spec(entry.module)
        except (ImportError, ValueError):
            found = None
        if found is None or not found.origin or not found.origin.endswith(".py"):
            raise SpecError(src, [f"spec.entry.module: module {entry.module!r} not found"])
        file = Path(found.origin)
    try:
        tree = ast.parse(file.read_text(), filename=str(file))
    except SyntaxError as e:
        raise SpecError(src, [f"spec.entry: {file}:{e.lineno}: syntax error: {e.msg}"]) from None
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))} | {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    if entry.function not in names:
        raise SpecError(src, [f"spec.entry.function: {entry.function!r} is not defined in {file}"])
