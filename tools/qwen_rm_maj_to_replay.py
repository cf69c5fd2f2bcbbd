#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Converts a Qwen2.5-Math `eval_rm_maj_example` recording to reckon's replay format.

Input: JSON Lines as in QwenLM/Qwen2.5-Math evaluation/data/eval_rm_maj_example/*.jsonl, one
problem a line with `idx`, `gt` (the gold answer), `pred` (the answer extracted from each sample),
`pred_score` (one [reward-model logit] per sample) and `score` (their grader's verdict per sample).
Output: one {"id", "gold", "samples": [{"answer", "reward"}]} object a line (the raw logit as the
reward; reckon reads rewards outside [0, 1] as logits). Response texts and questions are left out.

The recording's own verdicts (`score`) are not carried over: replay grades each answer against
the gold with reckon's answer equality (see tests/data/replay/README.md for how often the two agree).

usage: qwen_rm_maj_to_replay.py IN.jsonl > OUT.jsonl
"""
import json
import math
import sys


def convert(line_no, row):
    for field in ("idx", "gt", "pred", "pred_score"):
        if field not in row:
            raise ValueError(f"line {line_no}: missing field '{field}'")
    preds, scores = row["pred"], row["pred_score"]
    if len(preds) != len(scores):
        raise ValueError(f"line {line_no}: {len(preds)} answers but {len(scores)} reward scores")
    samples = []
    for i, (answer, score) in enumerate(zip(preds, scores)):
        # pred_score holds one list per sample: the reward model's score of the whole solution.
        reward = score[0] if isinstance(score, list) else score
        if not isinstance(reward, (int, float)) or not math.isfinite(reward):
            raise ValueError(f"line {line_no}: pred_score[{i}] is not a finite number")
        samples.append({"answer": str(answer), "reward": reward})
    return {"id": f"math-{row['idx']}", "gold": str(row["gt"]), "samples": samples}


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__.split("usage: ")[1])
        return 2
    with open(argv[1], encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                print(json.dumps(convert(line_no, json.loads(line)), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
