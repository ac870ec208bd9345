"""`localchat serve | models | pull`: flags override LOCALCHAT_* env vars, which override models.yaml."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from server.config import ConfigError, Settings, load_settings
from server.models.catalog import Catalog, ModelInfo


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir", type=Path, help="folder of *.gguf files and models.yaml (default: models)"
    )
    parser.add_argument(
        "--config", dest="config_file", type=Path, help="catalog file (default: MODELS_DIR/models.yaml)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localchat", description="OpenAI-compatible server for GGUF models")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the HTTP server")
    _add_setting_flags(serve)
    serve.add_argument("--host", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: 8000)")
    serve.add_argument(
        "--ollama-port",
        type=int,
        help="also listen on this port: 11434 is where Ollama's clients look (default: none)",
    )
    serve.add_argument("--model", dest="default_model", help="default model name (default: gemma-3-270m)")
    serve.add_argument("--n-ctx", type=int, help="context size per model in tokens (default: 4096)")
    serve.add_argument("--n-threads", type=int, help="CPU threads (default: all cores)")
    serve.add_argument(
        "--n-gpu-layers", type=int, help="layers to offload; -1 all (default: all if GPU build)"
    )
    serve.add_argument("--log-level", help="debug, info, warning, error (default: info)")
    serve.add_argument(
        "--max-loaded-models", type=int, help="models resident at once, least recently used goes (default: 3)"
    )
    serve.add_argument(
        "--max-memory",
        dest="max_memory_bytes",
        help="budget for resident models' files, e.g. 16G (default: none)",
    )
    serve.add_argument(
        "--model-ttl", type=float, help="unload a model idle this many seconds (default: never)"
    )
    serve.add_argument("--preload", help="comma-separated models to load at start, after the default one")
    serve.add_argument(
        "--auto-pull",
        action="store_true",
        default=None,
        help="download a catalog model that names a Hugging Face repo on its first use",
    )
    serve.add_argument(
        "--no-playground",
        dest="playground",
        action="store_false",
        default=None,
        help="do not serve the browser playground at /playground",
    )
    models = commands.add_parser("models", help="list the catalog")
    _add_setting_flags(models)
    pull = commands.add_parser(
        "pull",
        help="download a GGUF file from Hugging Face and add it to the catalog",
        description="Download a GGUF file from a Hugging Face repo into the models folder (resuming an "
        "interrupted download), check its size and sha256, and add it to models.yaml. "
        "HF_TOKEN authenticates; HF_ENDPOINT picks another hub.",
    )
    pull.add_argument("repo", help="Hugging Face repo, e.g. Qwen/Qwen2.5-0.5B-Instruct-GGUF")
    pull.add_argument(
        "spec",
        nargs="?",
        metavar="FILE|QUANT",
        help="a .gguf file in the repo, or a quant tag such as Q4_K_M (needed when it has several)",
    )
    pull.add_argument("--revision", help="branch, tag or commit (default: main)")
    pull.add_argument("--name", help="catalog name (default: the file name without .gguf)")
    _add_setting_flags(pull)
    return parser


def _serve(settings: Settings) -> int:
    from server.app import create_app
    from server.models.heap import limit_arenas
    from server.service.shutdown import serve

    limit_arenas()
    catalog = Catalog.from_settings(settings)
    return serve(create_app(settings, catalog), settings)


def _human_bytes(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _model_row(info: ModelInfo, settings: Settings) -> tuple[str, ...]:
    entry, metadata = info.entry, info.metadata
    template = "error" if info.template_error else ("yes" if info.has_chat_template else "no")
    if info.metadata_error:
        template = "unreadable"
    if entry.path.exists():
        location = f"{entry.path} ({_human_bytes(entry.path.stat().st_size)})"
    else:
        location = f"{entry.path} ({'not downloaded' if entry.hub is not None else 'missing'})"
    return (
        entry.name,
        info.kind,
        (metadata.size_label if metadata else None) or "-",
        (metadata.quantization if metadata else None) or "-",
        template,
        str(entry.n_ctx or settings.n_ctx),
        location,
    )


def _list_models(settings: Settings) -> int:
    from server.models.pull import pull_command

    catalog = Catalog.from_settings(settings)
    rows = [("NAME", "KIND", "SIZE", "QUANT", "TEMPLATE", "N_CTX", "FILE")]
    rows += [_model_row(catalog.info(name), settings) for name in catalog.names]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    for entry in catalog.entries():
        if entry.hub is not None and not entry.path.exists():
            print(f"\n'{entry.name}' is not downloaded; run: {pull_command(entry, settings)}")
    return 0


def _pull(settings: Settings, repo: str, spec: str | None, revision: str | None, name: str | None) -> int:
    from server.models.hub import PullError
    from server.models.pull import pull

    # One INFO line per HTTP request is noise next to the progress bar; huggingface_hub logs through
    # a handler of its own, so passing its records on to ours would print them twice.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("huggingface_hub").propagate = False
    try:
        result = pull(settings, repo, spec, revision=revision, name=name)
    except PullError as exc:
        print(f"localchat: pull failed: {exc}", file=sys.stderr)
        return 1
    file = result.file
    fetched = (
        f"{_human_bytes(result.num_bytes_fetched)} fetched" if result.num_bytes_fetched else "already here"
    )
    print(f"{file.repo}/{file.path} @ {file.commit[:12]} -> {result.path} ({fetched}, checked)")
    if result.is_new_entry:
        print(f"added '{result.name}' to {settings.catalog_path}")
    else:
        print(f"'{result.name}' was already in {settings.catalog_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    command = args.pop("command")
    pull_args = {key: args.pop(key, None) for key in ("repo", "spec", "revision", "name")}
    try:
        settings = load_settings(args)
    except (ConfigError, ValueError) as exc:
        print(f"localchat: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if command == "serve":
            return _serve(settings)
        if command == "pull":
            return _pull(settings, **pull_args)
        return _list_models(settings)
    except ConfigError as exc:
        print(f"localchat: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
