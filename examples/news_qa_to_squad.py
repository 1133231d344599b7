"""Write the built-in news_qa set out as SQuAD v1.1 JSON: a training and a validation file, the
shape SQuAD's own train-v1.1.json and dev-v1.1.json have, for trying the qa_file path (your own
SQuAD JSON) end to end without a download.

    python examples/news_qa_to_squad.py OUT_FOLDER [--n-documents 1000] [--events 1]
    lmwb train --task qa --set data.name=qa_file --set data.path=OUT_FOLDER/train.json \\
        --set data.validation_path=OUT_FOLDER/dev.json

The questions, contexts and answers are news_qa's own, split as news_qa splits them (same
data_seed), so a qa_file run on these files reads what a news_qa run reads
(core.data.qa.squad_json writes them; core.data.qa.read_squad reads them back).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from core.assemble import load_dataset  # noqa: E402
from core.config import default_config, validate_config  # noqa: E402
from core.data.qa import QASplit, squad_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for train.json and dev.json")
    parser.add_argument("--n-documents", type=int, default=1000, help="news items generated (data.n_documents)")
    parser.add_argument("--events", type=int, default=1, help="events per item (data.events)")
    args = parser.parse_args()
    raw = default_config("qa")  # news_qa read exactly as a qa run with these data settings reads it
    raw["data"] = {"name": "news_qa", "n_documents": args.n_documents, "events": args.events}
    data = load_dataset(validate_config(raw))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, split in (("train", data.train), ("dev", data.validation)):
        assert isinstance(split, QASplit)
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(squad_json(split, title=f"news_qa {name}")), encoding="utf-8")
        print(f"{path}: {len(split):,} questions on {len(set(split.contexts)):,} contexts")


if __name__ == "__main__":
    main()
