"""Issue 13: internal words stay out of the default output of the everyday commands.

`seed` (the reference write-up's working name: users read "the hidden-cost write-up"), the GPU catalogue's source
codes `AIC` and `EPC` (`inferplan gpus --sources` spells them out) and `n/f` ("not found") must not appear as words.
Ids that legitimately carry one, such as the API rows ``gemini-2.5-flash@seed``, are not words and do not count.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers import cli

# a whole word: not part of an id (letters, digits, "_", "-", "@", "." or "/" on either side)
INTERNAL = re.compile(r"(?<![\w@./-])(seed|AIC|EPC|n/f)(?![\w@/-])", re.IGNORECASE)


def internal_words(text: str) -> list[str]:
    return [m.group(0) for m in INTERNAL.finditer(" ".join(text.split()))]


def test_the_pattern_finds_words_and_leaves_ids_alone():
    assert internal_words("the seed's rule; AIC h100.yaml; EPC, TT agree; FP8 n/f; SEED quotes") == [
        "seed", "AIC", "EPC", "n/f", "SEED"]
    assert internal_words("google / gemini-2.5-flash@seed; seed_cost_model.md; --seed 3; aicore; epoch") == []


@pytest.mark.parametrize("command", ["plan", "gpus", "compare", "crossover", "quants", "models"])
def test_default_output_has_no_internal_words(command):
    r = cli(command)
    assert r.exit_code == 0, r.output
    assert internal_words(r.output) == [], r.output


def test_gpu_sources_are_spelled_out_with_publisher_document_and_date():
    r = cli("gpus", "--sources")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert internal_words(text) == []
    # h100-sxm's gpus.yaml source "AIC h100_sxm.yaml (...); EPC, TT agree", keys from source_keys.yaml
    assert "h100-sxm: NVIDIA AIConfigurator h100_sxm.yaml (memory 80 GiB" in text
    assert "the Epoch AI hardware database, PyTorch torchtitan agree" in text
    # who, which document, when (hardware_and_prices.md §0's "Date of source")
    assert ("NVIDIA AIConfigurator: NVIDIA (github.com/ai-dynamo/aiconfigurator, NVIDIA's own serving-configuration "
            "tool); aic-core/src/aiconfigurator_core/systems/<gpu>.yaml at commit 095f58a5 (dense figures); "
            "2026-08-21") in text
    assert "data/Chip dataset-Grid view.csv at commit 263c40a" in text and "2026-04-01" in text
    assert "FP8 dense not found in any source" in text  # rtx-4090: was "n/f"


def test_gpu_sources_as_json_name_every_key_a_row_uses():
    import json

    r = cli("gpus", "--sources", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = {g["id"]: g for g in json.loads(r.stdout)}
    assert rows["a100-40gb"]["source"].startswith("the Epoch AI hardware database (40 GB, 1.56 TB/s")
    assert rows["a100-40gb"]["published_by"] == (
        "the Epoch AI hardware database: Epoch AI (github.com/epoch-research/training-cost-trends), data/Chip "
        "dataset-Grid view.csv at commit 263c40a (an export of Epoch AI's ML-hardware database), 2026-04-01 (rows "
        "last modified 2025)")
    assert all(internal_words(g["source"]) == [] for g in rows.values())
