"""The GPU layer count a model loads with (and /v1/models reports): per model, else the setting, else all."""

from __future__ import annotations

import pytest

from server.models.loader import ALL_LAYERS, effective_gpu_layers


@pytest.mark.parametrize(
    ("requested", "num_layers", "expected"),
    [
        (None, 18, 19),  # all: 18 blocks plus the output layer
        (-1, 18, 19),
        (0, 18, 0),
        (5, 18, 5),
        (100, 18, 19),
        (None, None, ALL_LAYERS),
        (7, None, 7),
    ],
)
def test_effective_gpu_layers_with_gpu_offload(
    requested: int | None, num_layers: int | None, expected: int
) -> None:
    assert effective_gpu_layers(requested, num_layers, can_offload=True) == expected


@pytest.mark.parametrize("requested", [None, -1, 5])
def test_effective_gpu_layers_without_gpu_offload_is_zero(requested: int | None) -> None:
    assert effective_gpu_layers(requested, 18, can_offload=False) == 0
