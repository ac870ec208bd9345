"""Catalog: models.yaml entries, dropped-in *.gguf files, name resolution and ModelInfo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from server.config import ConfigError, Settings
from server.models.catalog import Catalog, ModelNotFound

GGUFFactory = Callable[..., Path]


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


def _catalog(models_dir: Path, yaml_text: str | None = None) -> Catalog:
    if yaml_text is not None:
        (models_dir / "models.yaml").write_text(yaml_text, encoding="utf-8")
    return Catalog.from_settings(Settings(models_dir=models_dir))


# -- building from models.yaml ---------------------------------------------------------------------------


def test_catalog_lists_yaml_entries_in_order(models_dir: Path) -> None:
    catalog = _catalog(
        models_dir,
        "models:\n  - name: alpha\n    file: a.gguf\n  - name: beta\n    file: b.gguf\n",
    )
    assert catalog.names == ["alpha", "beta"]


def test_catalog_entry_file_is_relative_to_models_dir(models_dir: Path) -> None:
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: sub/a.gguf\n")
    assert catalog.resolve("alpha").path == models_dir / "sub" / "a.gguf"


def test_catalog_resolves_alias_to_entry(models_dir: Path) -> None:
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n    aliases: [a, first]\n")
    assert catalog.resolve("first").name == "alpha"
    assert catalog.resolve("a") is catalog.resolve("alpha")


def test_catalog_aliases_are_not_listed_as_names(models_dir: Path) -> None:
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n    aliases: [a]\n")
    assert catalog.names == ["alpha"]


def test_catalog_duplicate_names_raise_config_error(models_dir: Path) -> None:
    text = "models:\n  - name: alpha\n    file: a.gguf\n  - name: alpha\n    file: b.gguf\n"
    with pytest.raises(ConfigError, match="'alpha' is used twice"):
        _catalog(models_dir, text)


def test_catalog_alias_equal_to_other_name_raises_config_error(models_dir: Path) -> None:
    text = (
        "models:\n  - name: alpha\n    file: a.gguf\n  - name: beta\n    file: b.gguf\n    aliases: [alpha]\n"
    )
    with pytest.raises(ConfigError, match="alias 'alpha'"):
        _catalog(models_dir, text)


def test_catalog_duplicate_alias_raises_config_error(models_dir: Path) -> None:
    text = (
        "models:\n  - name: alpha\n    file: a.gguf\n    aliases: [x]\n"
        "  - name: beta\n    file: b.gguf\n    aliases: [x]\n"
    )
    with pytest.raises(ConfigError, match="alias 'x'"):
        _catalog(models_dir, text)


def test_catalog_unknown_entry_key_raises_config_error(models_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\[0\]"):
        _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n    contxt: 2048\n")


def test_catalog_entry_without_file_raises_config_error(models_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\[1\]"):
        _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n  - name: beta\n")


def test_catalog_models_not_a_list_raises_config_error(models_dir: Path) -> None:
    with pytest.raises(ConfigError, match="'models' must be a list"):
        _catalog(models_dir, "models:\n  alpha: a.gguf\n")


def test_catalog_malformed_yaml_raises_config_error(models_dir: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        _catalog(models_dir, "models: [\n")


def test_catalog_missing_chat_template_file_raises_config_error(models_dir: Path) -> None:
    text = "models:\n  - name: alpha\n    file: a.gguf\n    chat_template_file: nowhere.jinja\n"
    with pytest.raises(ConfigError, match="cannot read chat_template_file"):
        _catalog(models_dir, text)


def test_catalog_chat_template_file_is_relative_to_catalog(models_dir: Path) -> None:
    (models_dir / "t.jinja").write_text("{{ messages[-1]['content'] }}", encoding="utf-8")
    catalog = _catalog(
        models_dir, "models:\n  - name: alpha\n    file: a.gguf\n    chat_template_file: t.jinja\n"
    )
    assert catalog.resolve("alpha").chat_template_override == "{{ messages[-1]['content'] }}"


# -- dropped-in files ------------------------------------------------------------------------------------


def test_catalog_serves_dropped_gguf_under_stem(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "my-model.Q8_0.gguf")
    catalog = _catalog(models_dir)
    assert catalog.names == ["my-model.Q8_0"]
    assert catalog.resolve("my-model.Q8_0").path == models_dir / "my-model.Q8_0.gguf"


def test_catalog_does_not_duplicate_listed_file(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "a.gguf")
    make_gguf(models_dir / "extra.gguf")
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n")
    assert catalog.names == ["alpha", "extra"]


def test_catalog_ignores_non_gguf_files(models_dir: Path) -> None:
    (models_dir / "README.txt").write_text("hi")
    (models_dir / "weights.bin").write_bytes(b"\x00")
    assert _catalog(models_dir).names == []


def test_catalog_missing_models_dir_is_empty(tmp_path: Path) -> None:
    assert Catalog.from_settings(Settings(models_dir=tmp_path / "absent")).names == []


# -- resolve --------------------------------------------------------------------------------------------


def test_catalog_resolve_unknown_name_raises_model_not_found_with_names(models_dir: Path) -> None:
    catalog = _catalog(
        models_dir, "models:\n  - name: alpha\n    file: a.gguf\n  - name: beta\n    file: b.gguf\n"
    )
    with pytest.raises(ModelNotFound) as caught:
        catalog.resolve("gamma")
    assert caught.value.name == "gamma"
    assert caught.value.available == ["alpha", "beta"]


@pytest.mark.parametrize(
    "name",
    ["../x", "/etc/passwd", "%2e%2e/x", "../models/a", "a.gguf", "./a", "models/a", ""],
)
def test_catalog_resolve_path_like_names_are_not_found(
    models_dir: Path, make_gguf: GGUFFactory, name: str
) -> None:
    make_gguf(models_dir / "a.gguf")
    make_gguf(models_dir.parent / "x.gguf")
    catalog = _catalog(models_dir)
    with pytest.raises(ModelNotFound):
        catalog.resolve(name)


def test_catalog_resolve_is_case_sensitive(models_dir: Path) -> None:
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n")
    with pytest.raises(ModelNotFound):
        catalog.resolve("Alpha")


# -- info / describe -----------------------------------------------------------------------------------


def test_catalog_info_for_missing_file_has_no_metadata(models_dir: Path) -> None:
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n")
    info = catalog.info("alpha")
    assert (info.metadata, info.template, info.template_error) == (None, None, None)
    assert info.kind == "base"


def test_catalog_info_reads_metadata_and_template(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "chat.gguf", chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}")
    info = _catalog(models_dir).info("chat")
    assert info.has_chat_template
    assert info.template is not None
    assert info.template.render([{"role": "user", "content": "hey"}]) == "hey"
    assert info.kind == "instruct"


def test_catalog_info_template_receives_bos_token_from_vocabulary(
    models_dir: Path, make_gguf: GGUFFactory
) -> None:
    make_gguf(
        models_dir / "m.gguf", tokens=["<pad>", "<s>", "</s>"], chat_template="{{ bos_token }}{{ messages }}"
    )
    info = _catalog(models_dir).info("m")
    assert info.template is not None
    assert info.template.render([]).startswith("<s>")


def test_catalog_info_without_template_is_base(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "base.gguf", name="Base Model")
    info = _catalog(models_dir).info("base")
    assert (info.has_chat_template, info.template_error, info.kind) == (False, None, "base")


def test_catalog_info_broken_template_sets_template_error(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "broken.gguf", chat_template="{% for m in messages %}")
    info = _catalog(models_dir).info("broken")
    assert info.template is None
    assert info.template_error is not None
    assert "does not compile" in info.template_error


def test_catalog_info_template_dropping_content_sets_template_error(
    models_dir: Path, make_gguf: GGUFFactory
) -> None:
    make_gguf(models_dir / "lossy.gguf", chat_template="{% for m in messages %}{{ m['role'] }}{% endfor %}")
    info = _catalog(models_dir).info("lossy")
    assert info.template is None
    assert info.template_error == "chat template renders without the message content"


def test_catalog_info_yaml_chat_template_overrides_metadata(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "a.gguf", chat_template="META {{ messages[-1]['content'] }}")
    text = (
        "models:\n  - name: alpha\n    file: a.gguf\n"
        "    chat_template: \"YAML {{ messages[-1]['content'] }}\"\n"
    )
    info = _catalog(models_dir, text).info("alpha")
    assert info.template is not None
    assert info.template.render([{"role": "user", "content": "hi"}]) == "YAML hi"


def test_catalog_info_yaml_template_override_fixes_broken_metadata_template(
    models_dir: Path, make_gguf: GGUFFactory
) -> None:
    make_gguf(models_dir / "a.gguf", chat_template="{% if %}")
    text = (
        "models:\n  - name: alpha\n    file: a.gguf\n    chat_template: \"{{ messages[-1]['content'] }}\"\n"
    )
    info = _catalog(models_dir, text).info("alpha")
    assert (info.template_error, info.has_chat_template) == (None, True)


def test_catalog_info_yaml_template_override_makes_base_model_instruct(
    models_dir: Path, make_gguf: GGUFFactory
) -> None:
    make_gguf(models_dir / "a.gguf", name="Base")
    text = "models:\n  - name: alpha\n    file: a.gguf\n    chat_template: \"{{ messages[0]['content'] }}\"\n"
    assert _catalog(models_dir, text).info("alpha").kind == "instruct"


def test_catalog_info_named_template_selected_by_chat_template_name(
    models_dir: Path, make_gguf: GGUFFactory
) -> None:
    make_gguf(
        models_dir / "a.gguf",
        chat_template="DEFAULT {{ messages[-1]['content'] }}",
        named_templates={"tool_use": "TOOLS {{ messages[-1]['content'] }}"},
    )
    text = "models:\n  - name: alpha\n    file: a.gguf\n    chat_template_name: tool_use\n"
    info = _catalog(models_dir, text).info("alpha")
    assert info.template is not None
    assert info.template.render([{"role": "user", "content": "x"}]) == "TOOLS x"


def test_catalog_info_unknown_template_name_has_no_template(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "a.gguf", chat_template="DEFAULT {{ messages }}")
    text = "models:\n  - name: alpha\n    file: a.gguf\n    chat_template_name: rag\n"
    assert _catalog(models_dir, text).info("alpha").template is None


def test_catalog_info_kind_override_wins(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "a.gguf", chat_template="{{ messages[0]['content'] }}")
    text = "models:\n  - name: alpha\n    file: a.gguf\n    kind: chat\n"
    assert _catalog(models_dir, text).info("alpha").kind == "chat"


def test_catalog_info_by_alias_returns_canonical_entry(models_dir: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(models_dir / "a.gguf")
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n    aliases: [al]\n")
    assert catalog.info("al").name == "alpha"


def test_catalog_info_rereads_file_that_appeared_later(models_dir: Path, make_gguf: GGUFFactory) -> None:
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n")
    assert catalog.info("alpha").metadata is None
    make_gguf(models_dir / "a.gguf", name="Now Here")
    metadata = catalog.info("alpha").metadata
    assert metadata is not None
    assert metadata.name == "Now Here"


def test_catalog_unreadable_gguf_reports_metadata_error(models_dir: Path) -> None:
    (models_dir / "broken.gguf").write_bytes(b"GGUF" + b"\x00" * 7)
    info = _catalog(models_dir).info("broken")
    assert info.metadata is None
    assert info.metadata_error is not None and "broken.gguf" in info.metadata_error


# -- Hugging Face entries -------------------------------------------------------------------------------


def test_catalog_repo_entry_with_file_is_stored_under_its_base_name(models_dir: Path) -> None:
    text = "models:\n  - name: q\n    repo: org/q-GGUF\n    file: sub/q-Q4_K_M.gguf\n    revision: v1\n"
    entry = _catalog(models_dir, text).resolve("q")
    assert entry.path == models_dir / "q-Q4_K_M.gguf"
    assert entry.hub is not None
    assert (entry.hub.repo, entry.hub.spec, entry.hub.revision) == ("org/q-GGUF", "sub/q-Q4_K_M.gguf", "v1")


def test_catalog_repo_entry_by_quant_is_stored_under_entry_name(models_dir: Path) -> None:
    entry = _catalog(models_dir, "models:\n  - name: q\n    repo: org/q-GGUF\n    quant: Q8_0\n").resolve("q")
    assert entry.path == models_dir / "q.gguf"
    assert entry.hub is not None and entry.hub.spec == "Q8_0"


def test_catalog_local_entry_has_no_hub_source(models_dir: Path) -> None:
    assert _catalog(models_dir, "models:\n  - name: a\n    file: a.gguf\n").resolve("a").hub is None


def test_catalog_repo_entry_missing_file_is_listed_without_metadata(models_dir: Path) -> None:
    catalog = _catalog(models_dir, "models:\n  - name: q\n    repo: org/q-GGUF\n    quant: Q8_0\n")
    assert catalog.names == ["q"]
    assert catalog.info("q").metadata is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("    quant: Q4_K_M\n", "needs 'file'"),
        ("    file: a.gguf\n    quant: Q4_K_M\n", "only apply to an entry with 'repo'"),
        ("    repo: org/x\n    file: a.gguf\n    quant: Q4_K_M\n", "'file' or 'quant', not both"),
        ("    repo: org/x\n    bundled: true\n", "cannot also have a 'repo'"),
        ("    repo: not a repo\n", "models\\[0\\]"),
    ],
)
def test_catalog_invalid_repo_entries_raise_config_error(models_dir: Path, fields: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _catalog(models_dir, "models:\n  - name: q\n" + fields)


# -- the "*" alias --------------------------------------------------------------------------------------


def test_catalog_wildcard_alias_answers_unknown_names(models_dir: Path) -> None:
    text = (
        "models:\n  - name: alpha\n    file: a.gguf\n  - name: beta\n    file: b.gguf\n    aliases: ['*']\n"
    )
    catalog = _catalog(models_dir, text)
    assert catalog.resolve("gpt-4o-mini").name == "beta"
    assert catalog.resolve("../etc/passwd").name == "beta"
    assert catalog.resolve("alpha").name == "alpha"
    assert catalog.wildcard_name == "beta"


def test_catalog_wildcard_is_not_a_name(models_dir: Path) -> None:
    catalog = _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n    aliases: ['*', al]\n")
    assert catalog.has_name("al") and catalog.has_name("alpha")
    assert not catalog.has_name("*") and not catalog.has_name("gpt-4o-mini")


def test_catalog_without_wildcard_unknown_name_is_not_found(models_dir: Path) -> None:
    with pytest.raises(ModelNotFound):
        _catalog(models_dir, "models:\n  - name: alpha\n    file: a.gguf\n").resolve("gpt-4o-mini")


def test_catalog_two_wildcards_raise_config_error(models_dir: Path) -> None:
    text = (
        "models:\n  - name: alpha\n    file: a.gguf\n    aliases: ['*']\n"
        "  - name: beta\n    file: b.gguf\n    aliases: ['*']\n"
    )
    with pytest.raises(ConfigError, match="both have the '\\*' alias"):
        _catalog(models_dir, text)
