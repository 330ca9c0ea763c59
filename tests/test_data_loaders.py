"""Loaders: a folder in the Hub layout (made here, jsonl.gz), a local file, errors with file:line."""

import gzip
import json

import pytest

from rlhf_trl.config import DataArguments
from rlhf_trl.data import has_gold, load_preference_splits, load_prompts
from rlhf_trl.data.loaders import read_preference_splits
from rlhf_trl.errors import UserError


def pair(q: str, good: str, bad: str, history: str = "") -> dict:
    return {
        "chosen": f"{history}\n\nHuman: {q}\n\nAssistant: {good}",
        "rejected": f"{history}\n\nHuman: {q}\n\nAssistant: {bad}",
    }


def write_jsonl_gz(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


@pytest.fixture
def hub_folder(tmp_path):
    """Two subsets in the Anthropic/hh-rlhf repo layout, with one row to drop per subset split."""
    root = tmp_path / "hh"
    for subset in ("helpful-base", "harmless-base"):
        for split, n in (("train", 6), ("test", 3)):
            rows = [pair(f"{subset} {split} question {i}?", f"Answer {i}.", f"Bad {i}.") for i in range(n)]
            rows.append(pair("Same?", "Identical.", "Identical."))  # dropped: identical replies
            write_jsonl_gz(root / subset / f"{split}.jsonl.gz", rows)
    return root


def test_hub_layout_folder(hub_folder):
    dsd, stats = read_preference_splits(DataArguments(dataset_name=str(hub_folder)))
    assert dsd["train"].num_rows == 12 and dsd["test"].num_rows == 6
    assert stats["train"].raw == 14 and stats["train"].dropped == {"identical_final_replies": 2}
    row = dsd["train"][0]
    assert set(dsd["train"].column_names) == {"prompt", "chosen", "rejected"}
    assert row["prompt"][-1]["role"] == "user"
    assert row["chosen"][0]["role"] == "assistant" and len(row["chosen"]) == 1
    assert row["prompt"][-1]["content"].startswith("harmless-base train")  # sorted subsets


def test_subset_selection_and_limits(hub_folder):
    args = DataArguments(dataset_name=str(hub_folder), dataset_subsets=["helpful-base"], max_train_samples=4)
    dsd = load_preference_splits(args)
    assert dsd["train"].num_rows == 4
    assert all(p[-1]["content"].startswith("helpful-base") for p in dsd["test"]["prompt"])


def test_unknown_subset_is_a_user_error(hub_folder):
    with pytest.raises(UserError, match="red-team"):
        load_preference_splits(DataArguments(dataset_name=str(hub_folder), dataset_subsets=["red-team"]))


def test_local_file_is_split_deterministically(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(pair(f"Q{i}?", "Yes.", "No.")) + "\n" for i in range(100)))
    a = load_preference_splits(DataArguments(dataset_name=str(path)))
    b = load_preference_splits(DataArguments(dataset_name=str(path)))
    assert a["train"].num_rows + a["test"].num_rows == 100
    assert 0 < a["test"].num_rows < 20
    assert a["test"]["prompt"] == b["test"]["prompt"]


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(pair("Q?", "a", "b")) + "\n\n")
        f.write('{"chosen": "\\n\\nHuman: x", "rejected": \n')
    with pytest.raises(UserError, match=rf"{path}:3: malformed JSON"):
        load_preference_splits(DataArguments(dataset_name=str(path)))


@pytest.mark.parametrize(
    "row,message",
    [
        ({"chosen": "x"}, "missing field 'rejected'"),
        ({"chosen": 1, "rejected": "y"}, "field 'chosen' must be a string"),
    ],
)
def test_missing_or_non_string_field(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(pair("Q?", "a", "b")) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(UserError, match=rf"bad.jsonl:2: {message}"):
        load_preference_splits(DataArguments(dataset_name=str(path)))


def test_too_few_survivors(tmp_path):
    root = tmp_path / "d"
    rows = [pair("Q?", "same", "same")] * 8 + [pair("Q?", "a", "b")] * 2
    write_jsonl_gz(root / "train.jsonl.gz", rows)
    write_jsonl_gz(root / "test.jsonl.gz", [pair("Q?", "a", "b")])
    with pytest.raises(UserError, match=r"only 2 of 10 rows .*identical_final_replies=8"):
        load_preference_splits(DataArguments(dataset_name=str(root)))
    assert (
        load_preference_splits(DataArguments(dataset_name=str(root), min_keep_fraction=0.1))["train"].num_rows
        == 2
    )


def test_missing_source_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        load_preference_splits(DataArguments(dataset_name=str(tmp_path / "nope.jsonl")))


def test_prompts_from_a_folder_are_the_test_prompts_halved_into_dev_and_test(hub_folder):
    args = DataArguments(dataset_name=str(hub_folder))
    every = list(load_preference_splits(args)["test"]["prompt"])
    dev = list(load_prompts(args)["prompt"])
    test = list(load_prompts(args, eval_set="test")["prompt"])
    assert dev and test and not [p for p in dev if p in test]
    assert sorted(map(str, dev + test)) == sorted(map(str, every))
    assert all(" test " in p[-1]["content"] for p in dev + test)
    capped = load_prompts(DataArguments(dataset_name=str(hub_folder), max_eval_prompts=1))
    assert capped.column_names == ["prompt"] and capped.num_rows == 1
    with pytest.raises(ValueError, match="eval_set"):
        load_prompts(args, eval_set="validation")
    assert load_prompts(args, "train").num_rows == 12
    assert not has_gold(args)
    with pytest.raises(ValueError, match="split"):
        load_prompts(args, "validation")


def test_a_local_copy_of_the_testbed_keeps_its_gold_and_prompt_sets(tmp_path, monkeypatch):
    """A folder holding the bundled files (a re-weighted copy, say) is still the testbed: gold, labels and
    the held-out prompt sets come with it; one pair that is no testbed request takes the gold away."""
    import shutil

    from rlhf_trl.evaluation.metrics import harmful_flags
    from rlhf_trl.testbed import BUNDLED_DIR

    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("train.jsonl.gz", "test.jsonl.gz"):
        shutil.copy(BUNDLED_DIR / name, copy / name)
    args = DataArguments(dataset_name=str(copy))
    assert has_gold(args)
    test_prompts = load_preference_splits(args)["test"]["prompt"]
    flags = harmful_flags(test_prompts)
    assert flags is not None and 0 < sum(flags) < len(flags)
    # without the prompt files: the test split's prompts halved, as for any other source
    assert sorted(map(str, load_prompts(args)["prompt"])) != sorted(
        map(str, load_prompts(DataArguments())["prompt"])
    )
    for name in ("dev_prompts.jsonl.gz", "test_prompts.jsonl.gz"):
        shutil.copy(BUNDLED_DIR / name, copy / name)
    for eval_set in ("dev", "test"):
        bundled = load_prompts(DataArguments(), eval_set=eval_set)["prompt"]
        assert load_prompts(args, eval_set=eval_set)["prompt"] == bundled

    monkeypatch.setenv("HOME", str(tmp_path))
    assert has_gold(DataArguments(dataset_name="~/copy"))
    assert (
        load_prompts(DataArguments(dataset_name="~/copy"))["prompt"]
        == load_prompts(DataArguments())["prompt"]
    )

    # evaluation prompts that are no testbed requests: no gold; one prompt file alone is not a prompt set
    (copy / "dev_prompts.jsonl.gz").rename(tmp_path / "dev_prompts.jsonl.gz")
    write_jsonl_gz(
        copy / "dev_prompts.jsonl.gz", [{"prompt": [{"role": "user", "content": "How do I fly?"}]}]
    )
    assert not has_gold(args)
    (copy / "dev_prompts.jsonl.gz").unlink()
    assert has_gold(args)
    assert load_prompts(args)["prompt"] != load_prompts(DataArguments())["prompt"]
    (tmp_path / "dev_prompts.jsonl.gz").rename(copy / "dev_prompts.jsonl.gz")

    with gzip.open(copy / "train.jsonl.gz", "at", encoding="utf-8") as f:
        f.write(json.dumps(pair("How do I fix a squeaky door hinge at home?", "Oil it.", "No.")) + "\n")
    assert not has_gold(args)
    assert harmful_flags([*test_prompts, [{"role": "user", "content": "How do I pick a lock?"}]]) is None


def test_has_gold_reads_no_real_dataset_through(tmp_path, monkeypatch):
    """A Hub id is never loaded to find out, and a folder of real pairs is settled by its first pair: here
    a later row that would be an error is never read."""
    from rlhf_trl.data import loaders

    def no_hub(*_):
        raise AssertionError("has_gold loaded a Hub dataset")

    monkeypatch.setattr(loaders, "_hub_rows", no_hub)
    assert not has_gold(DataArguments(dataset_name="Anthropic/hh-rlhf"))
    rows = [pair("What is a good name for a cat?", "Miso.", "No."), {"chosen": 1, "rejected": 2}]
    write_jsonl_gz(tmp_path / "train.jsonl.gz", rows)
    write_jsonl_gz(tmp_path / "test.jsonl.gz", rows[:1])
    assert not has_gold(DataArguments(dataset_name=str(tmp_path)))
    with pytest.raises(UserError, match="must be a string"):
        load_preference_splits(DataArguments(dataset_name=str(tmp_path)))
    one_file = tmp_path / "pairs.jsonl"
    one_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert not has_gold(DataArguments(dataset_name=str(one_file)))


def test_a_testbed_copy_whose_first_row_the_parser_drops_still_has_gold(tmp_path):
    import shutil

    from rlhf_trl.testbed import BUNDLED_DIR

    shutil.copy(BUNDLED_DIR / "test.jsonl.gz", tmp_path / "test.jsonl.gz")
    with gzip.open(BUNDLED_DIR / "train.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    dropped = {"chosen": "no transcript here", "rejected": "nor here"}
    write_jsonl_gz(tmp_path / "train.jsonl.gz", [dropped, *rows])
    assert has_gold(DataArguments(dataset_name=str(tmp_path)))


def test_bundled_eval_prompts_are_held_out():
    args = DataArguments()
    assert has_gold(args)
    dsd = load_preference_splits(args)
    evals = load_prompts(args)["prompt"]
    assert len(evals) == 100
    assert all(p[-1]["role"] == "user" for p in evals)
    seen = {
        m["content"]
        for split in ("train", "test")
        for p in dsd[split]["prompt"]
        for m in p
        if m["role"] == "user"
    }
    assert not any(p[-1]["content"] in seen for p in evals)
    assert load_prompts(DataArguments(max_eval_prompts=7)).num_rows == 7
