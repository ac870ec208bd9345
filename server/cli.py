"""`localchat serve | models`: flags override LOCALCHAT_* env vars, which override models.yaml."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from server.config import ConfigError, Settings, load_settings
from server.models.catalog import Catalog


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
    serve.add_argument("--model", dest="default_model", help="default model name (default: gemma-3-270m)")
    serve.add_argument("--n-ctx", type=int, help="context size per model in tokens (default: 4096)")
    serve.add_argument("--n-threads", type=int, help="CPU threads (default: all cores)")
    serve.add_argument(
        "--n-gpu-layers", type=int, help="layers to offload; -1 all (default: all if GPU build)"
    )
    serve.add_argument("--log-level", help="debug, info, warning, error (default: info)")
    models = commands.add_parser("models", help="list the catalog")
    _add_setting_flags(models)
    return parser


def _serve(settings: Settings) -> int:
    import uvicorn

    from server.app import create_app

    catalog = Catalog.from_settings(settings)
    app = create_app(settings, catalog)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
    return 0


def _list_models(settings: Settings) -> int:
    catalog = Catalog.from_settings(settings)
    rows = [("NAME", "KIND", "TEMPLATE", "FILE")]
    for name in catalog.names:
        info = catalog.info(name)
        template = "error" if info.template_error else ("yes" if info.has_chat_template else "no")
        template = "unreadable" if info.metadata_error else template
        state = "" if info.entry.path.exists() else " (missing)"
        rows.append((name, info.kind, template, f"{info.entry.path}{state}"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    command = args.pop("command")
    try:
        settings = load_settings(args)
    except (ConfigError, ValueError) as exc:
        print(f"localchat: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return _serve(settings) if command == "serve" else _list_models(settings)
    except ConfigError as exc:
        print(f"localchat: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
