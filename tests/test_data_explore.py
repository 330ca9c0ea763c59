"""`rlhf-trl explore-data`: runs offline on a config, --json prints one parseable object."""

import gzip
import json

import pytest

from rlhf_trl.data.explore import main


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def small_config(tmp_path, tiny_model_dir):
    shared = "Sure, " * 40
    rows = [
        {
            "chosen": f"\n\nHuman: Q{i}?\n\nAssistant: {shared}yes.",
            "rejected": f"\n\nHuman: Q{i}?\n\nAssistant: {shared}no.",
        }
        for i in range(4)
    ] + [{"chosen": "\n\nHuman: Q?\n\nAssistant: A.", "rejected": "\n\nHuman: Q?\n\nAssistant: A."}]
    for split in ("train", "test"):
        _write(tmp_path / "hh" / "helpful-base" / f"{split}.jsonl.gz", rows)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"dataset_name: {tmp_path / 'hh'}\nmodel_name_or_path: {tiny_model_dir}\n")
    return cfg


def test_json_output(small_config, capsys):
    assert main(["--config", str(small_config), "--json", "--max_length", "30"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["train"] == {
        "raw": 5,
        "kept": 4,
        "dropped": {
            "no_assistant_turn": 0,
            "roles_not_alternating": 0,
            "strict_prefix": 0,
            "differ_before_final_turn": 0,
            "empty_final_reply": 0,
            "identical_final_replies": 1,
        },
    }
    lengths = report["lengths"]
    assert lengths["share_truncated"] == 1.0 and lengths["share_identical_after_truncation"] == 1.0
    assert lengths["tokens"]["chosen"]["p50"] > 40
    assert len(report["samples"]) == 3 and "<|im_start|>user" in report["samples"][0]["chosen_rendered"]


def test_no_truncation_at_a_large_max_length(small_config, capsys):
    main(["--config", str(small_config), "--json", "--max_length", "4096"])
    lengths = json.loads(capsys.readouterr().out)["lengths"]
    assert lengths["share_truncated"] == 0.0 and lengths["share_identical_after_truncation"] == 0.0


def test_demo_config_text_report(embedded_tokenizer_dir, capsys):
    main(
        [
            "--config",
            "recipes/configs/demo.yaml",
            "--model_name_or_path",
            embedded_tokenizer_dir,
            "--split",
            "test",
            "--max_train_samples",
            "2000",
        ]
    )
    out = capsys.readouterr().out
    assert "dataset: bundled" in out and "train raw    2000" in out
    assert "token lengths (test" in out and out.count("--- sample") == 3
