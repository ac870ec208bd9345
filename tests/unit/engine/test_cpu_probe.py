from __future__ import annotations

from pathlib import Path

from server.engine import cpu_probe


def test_cpu_reports_amx_reads_the_flags(tmp_path: Path) -> None:
    with_amx, without = tmp_path / "with", tmp_path / "without"
    with_amx.write_text("flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile amx_int8\n")
    without.write_text("flags\t\t: fpu avx2 avx512f\n")
    assert cpu_probe.cpu_reports_amx(with_amx)
    assert not cpu_probe.cpu_reports_amx(without)
    assert not cpu_probe.cpu_reports_amx(tmp_path / "missing")


def test_without_amx_no_child_process_is_started(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cpu_probe, "cpu_reports_amx", lambda: False)
    monkeypatch.setattr(cpu_probe.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    cpu_probe.extra_buffers_work.cache_clear()
    assert cpu_probe.extra_buffers_work(tmp_path / "model.gguf")
    cpu_probe.extra_buffers_work.cache_clear()


def test_a_child_that_dies_turns_extra_buffers_off(monkeypatch, tmp_path: Path) -> None:
    class Died:
        returncode = -4

    monkeypatch.setattr(cpu_probe, "cpu_reports_amx", lambda: True)
    monkeypatch.setattr(cpu_probe.subprocess, "run", lambda *a, **k: Died())
    cpu_probe.extra_buffers_work.cache_clear()
    assert not cpu_probe.extra_buffers_work(tmp_path / "model.gguf")
    cpu_probe.extra_buffers_work.cache_clear()
