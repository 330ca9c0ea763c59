"""`rlhf-trl sample-pairs`: DPO pairs from a policy's own replies ranked by a reward model."""

from __future__ import annotations

import json

import pytest
from test_eval_harness import make_reward_model, write_config

from rlhf_trl.data.parser import parse_hh_pair
from rlhf_trl.data.policy_pairs import hh_row, main, pick_pairs
from rlhf_trl.errors import UserError

P = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]


def test_pick_pairs_takes_the_highest_against_the_lowest_and_drops_what_has_no_preference():
    replies = [
        ["a0", "b0", "", "same", "d0", "e0", "f0", "g0"],
        ["a1", "b1", "c1", "same", "d1\n", "e1", "f1\n\nHuman: and you?", "g1"],
        ["a2", "b2", "", "same", "d1", "e2", "f2", "g2"],
    ]
    scores = [
        [0.5, 1.0, 9.0, 1.0, 2.0, 9.0, 0.0, 0.7],
        [2.0, 1.0, 3.0, 2.0, 5.0, 1.0, 5.0, 0.7],
        [-1.0, 3.0, 9.0, 0.0, 1.0, 1.0, 1.0, 0.7],
    ]
    pairs, dropped = pick_pairs([*P, *P[:3]], replies, scores)
    # 0: a1 over a2; 1: b2 over b0 (a tie for the lowest: the first of them); 2: one non-empty reply;
    # 3: best and worst the same text; 4: the same once stripped, as the parser reads them; 5: e0 over e1;
    # 6: the best reply holds a turn marker, so the pair would not parse; 7: three texts, one score
    assert pairs == [(0, "a1", "a2", 2.0, -1.0), (1, "b2", "b0", 3.0, 1.0), (5, "e0", "e1", 9.0, 1.0)]
    assert dropped == {
        "too_few_replies": 1, "identical_final_replies": 2, "no_assistant_turn": 1, "tied_scores": 1
    }  # fmt: skip


def test_hh_rows_round_trip_through_the_parser_with_a_multi_turn_prompt():
    prompt = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a fact."},
    ]
    row = hh_row(prompt, "Cats sleep a lot.", "No.")
    parsed = parse_hh_pair(row["chosen"], row["rejected"])
    assert parsed["prompt"] == prompt
    assert parsed["chosen"] == [{"role": "assistant", "content": "Cats sleep a lot."}]
    assert parsed["rejected"] == [{"role": "assistant", "content": "No."}]


def test_sample_pairs_end_to_end_writes_pairs_the_loaders_read_ranked_by_the_reward_model(
    tiny_model_dir, tmp_path, capsys, monkeypatch
):
    from rlhf_trl.config import DataArguments
    from rlhf_trl.data import load_preference_splits
    from rlhf_trl.judges import RewardModelJudge

    rm = tmp_path / "run" / "checkpoints" / "reward"
    make_reward_model(tiny_model_dir, rm)
    cfg = write_config(tmp_path, tiny_model_dir, "  temperature: 1.0\n")
    out = tmp_path / "pairs"
    argv = ["--config", str(cfg), "--output_dir", str(out), "--train_prompts", "3", "--replies", "3"]
    assert main(argv) == 0
    assert "sample-pairs: " in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "pairs.json",
        "replies.jsonl",
        "test.jsonl",
        "train.jsonl",
    ]
    summary = json.loads((out / "pairs.json").read_text())
    assert summary["train_prompts"] == 3 and summary["replies_per_prompt"] == 3
    assert summary["policy"] == tiny_model_dir  # no sft stage in this config: the reference is the model
    assert summary["ranked_by"] == "reward_model"
    assert summary["sampling"]["temperature"] == 1.0 and summary["sampling"]["dtype"] == "float32"

    splits = load_preference_splits(DataArguments(dataset_name=str(out)))
    train = splits["train"]
    assert len(train) == summary["pairs"] == 3 - sum(summary["dropped"].values())
    source = load_preference_splits(DataArguments(dataset_name=str(tmp_path / "hh")))
    assert splits["test"].to_list() == source["test"].to_list()  # the source's own test pairs, unchanged
    judge = RewardModelJudge(str(rm), batch_size=2)
    chosen = judge.score(train["prompt"], [c[0]["content"] for c in train["chosen"]])
    rejected = judge.score(train["prompt"], [r[0]["content"] for r in train["rejected"]])
    assert all(c > r for c, r in zip(chosen, rejected))
    # the summary's means are of the replies as sampled; the parser strips their whitespace: close, not equal
    assert summary["chosen_reward_mean"] == pytest.approx(sum(chosen) / len(chosen), abs=0.01)
    assert summary["rejected_reward_mean"] == pytest.approx(sum(rejected) / len(rejected), abs=0.01)
    # replies.jsonl: every reply with its score; each kept pair is its prompt's best against its worst
    seen = [json.loads(line) for line in (out / "replies.jsonl").read_text().splitlines()]
    assert len(seen) == 3 and sum(r["kept"] for r in seen) == len(train)
    assert all(len(r["replies"]) == len(r["scores"]) == 3 for r in seen)
    best = {json.dumps(r["prompt"]): (max(r["scores"]), min(r["scores"])) for r in seen if r["kept"]}
    for p, c, r in zip(train["prompt"], chosen, rejected):
        assert best[json.dumps(p)] == pytest.approx((c, r), abs=0.01)

    # the same seed gives the same pairs; a failure while writing leaves neither DIR nor its temporary folder
    again = tmp_path / "again"
    assert main([*argv[:3], str(again), *argv[4:]]) == 0
    assert (again / "train.jsonl").read_text() == (out / "train.jsonl").read_text()
    import rlhf_trl.data.policy_pairs as policy_pairs

    def broken(*_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(policy_pairs, "pick_pairs", lambda *_: ([(0, "x", "y", 1.0, 0.0)], {}))
    monkeypatch.setattr(policy_pairs, "hh_row", broken)  # fails while train.jsonl is being written
    with pytest.raises(RuntimeError, match="disk full"):
        main([*argv[:3], str(tmp_path / "broken"), *argv[4:]])
    assert not [p.name for p in tmp_path.iterdir() if "broken" in p.name]


def test_sample_pairs_refuses_bad_input_before_loading_a_model(tiny_model_dir, tmp_path):
    cfg = write_config(tmp_path, tiny_model_dir)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="not an empty folder"):
        main(["--config", str(cfg), "--output_dir", str(busy)])
    with pytest.raises(UserError, match="not an empty folder"):
        main(["--config", str(cfg), "--output_dir", str(busy / "keep.txt")])
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    with pytest.raises(UserError, match="at least 2"):
        main(["--config", str(cfg), "--output_dir", str(tmp_path / "a"), "--replies", "1"])
    with pytest.raises(UserError, match="--num_prompts is an evaluation setting sample-pairs does not use"):
        main(["--config", str(cfg), "--output_dir", str(tmp_path / "a"), "--num_prompts", "5"])
    with pytest.raises(UserError, match="no reward model"):
        main(["--config", str(cfg), "--output_dir", str(tmp_path / "b"), "--train_prompts", "2"])
    with pytest.raises(UserError, match="--rank_by must be one of reward_model, gold; got 'judge'"):
        main(["--config", str(cfg), "--output_dir", str(tmp_path / "b"), "--rank_by", "judge"])
    with pytest.raises(UserError, match="--rank_by gold needs the testbed's gold rubric, and .*/hh is not"):
        main(["--config", str(cfg), "--output_dir", str(tmp_path / "b"), "--rank_by", "gold"])
    with pytest.raises(UserError, match="--reward_model_path is not read with --rank_by gold"):
        main(
            [
                "--config",
                str(cfg),
                "--output_dir",
                str(tmp_path / "b"),
                "--rank_by",
                "gold",
                "--reward_model_path=x",
            ]
        )
    make_reward_model(tiny_model_dir, tmp_path / "run" / "checkpoints" / "reward")
    with pytest.raises(UserError, match="has 4 unique prompts"):
        main(["--config", str(cfg), "--output_dir", str(tmp_path / "c"), "--train_prompts", "50"])
    assert not any((tmp_path / d).exists() for d in "abc")


def test_sample_pairs_ranked_by_gold_needs_no_reward_model_and_keeps_gold_order(
    tiny_model_dir, tmp_path, capsys
):
    """--rank_by gold on the bundled testbed: the gold rubric (the testbed's "human") ranks the replies, no
    reward model is read, every kept pair's chosen reply scores higher on gold, ties are dropped and counted."""
    from rlhf_trl.config import DataArguments
    from rlhf_trl.data import load_preference_splits
    from rlhf_trl.testbed import gold_score

    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        f"run_dir: {tmp_path / 'run'}\nmodel_name_or_path: {tiny_model_dir}\nseed: 7\ndataset_name: bundled\n"
        "max_test_samples: 4\nevaluation:\n  max_new_tokens: 8\n  batch_size: 4\n  temperature: 1.0\n"
    )
    out = tmp_path / "pairs"
    argv = ["--config", str(cfg), "--output_dir", str(out), "--train_prompts", "8", "--replies", "4"]
    assert main([*argv, "--rank_by", "gold"]) == 0
    assert "ranked by gold: " in capsys.readouterr().out
    assert not (tmp_path / "run").exists()  # no reward model looked for or written
    summary = json.loads((out / "pairs.json").read_text())
    assert summary["ranked_by"] == "gold" and summary["reward_model"] is None
    assert "chosen_reward_mean" not in summary
    train = load_preference_splits(DataArguments(dataset_name=str(out)))["train"]
    assert 0 < len(train) == summary["pairs"] == 8 - sum(summary["dropped"].values())
    gold = [
        (gold_score(p, c[0]["content"]), gold_score(p, r[0]["content"]))
        for p, c, r in zip(train["prompt"], train["chosen"], train["rejected"])
    ]
    assert all(c > r for c, r in gold)
    g = summary["gold"]
    assert g["same_order"] == len(train) and g["tied"] == g["reversed"] == 0
    assert g["chosen_mean"] == pytest.approx(sum(c for c, _ in gold) / len(gold), abs=1e-6)
    seen = [json.loads(line) for line in (out / "replies.jsonl").read_text().splitlines()]
    assert [r["scores"] for r in seen] == [[gold_score(r["prompt"], t) for t in r["replies"]] for r in seen]
    assert sum(r["kept"] for r in seen) == len(train)
