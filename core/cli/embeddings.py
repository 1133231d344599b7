"""``lmwb embeddings RUN neighbours|analogy|similarity|export|project``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.cli.common import add_param_flag, open_store, output_file
from core.decoding.settings import WORDS_LISTED
from core.errors import WorkbenchError


def cmd_embeddings(args: argparse.Namespace) -> int:
    """Word vectors of a run: neighbours, analogies, similarity, export (word2vec text)."""
    from core import embeddings as emb
    from core.runs import load_trained

    need = {"neighbours": 1, "analogy": 3, "similarity": 2, "export": 1}.get(args.action)  # project: any number
    if need is not None and len(args.words) != need:
        usage = {"neighbours": "WORD", "analogy": "A B C", "similarity": "W1 W2", "export": "PATH"}[args.action]
        raise WorkbenchError(f"`lmwb embeddings RUN {args.action}` takes {usage}")
    # Checked before loading the model, so a bad path fails at once.
    export_to = output_file(args.words[0], args) if args.action == "export" else None
    vocab, vectors = emb.run_vectors(load_trained(open_store(args), args.run, which=args.checkpoint))
    if args.action == "neighbours":
        for word, score in emb.nearest_neighbours(vectors, vocab, args.words[0], args.top):
            print(f"{score:7.4f}  {word}")
    elif args.action == "analogy":
        a, b, c = args.words
        print(f"{a} : {b} :: {c} : ?")
        for word, score in emb.analogy(vectors, vocab, a, b, c, args.top):
            print(f"{score:7.4f}  {word}")
    elif args.action == "similarity":
        print(f"{emb.similarity(vectors, vocab, *args.words):.4f}")
    elif args.action == "project":
        # The Playground's map as a table (word,x,y): the given words, else the most frequent.
        points = emb.project_2d(vectors, vocab, method=args.method, words=args.words or None)
        points.to_csv(output_file(args.output, args) if args.output else sys.stdout, index=False, float_format="%.5g")
        if args.output:
            print(f"wrote {len(points):,} points ({args.method}) to {args.output}")
    elif export_to is not None:  # export
        n = emb.export_word2vec_text(export_to, vocab, vectors)
        print(f"wrote {n:,} vectors of dimension {vectors.shape[1]} to {args.words[0]}")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("embeddings", help="word vectors of a run: neighbours, analogy, similarity, export, 2-D map")
    p.add_argument("run")
    p.add_argument("action", choices=["neighbours", "analogy", "similarity", "export", "project"])
    p.add_argument("words", nargs="*", metavar="ARG", help="neighbours WORD | analogy A B C (A:B :: C:?) | similarity W1 W2 | export PATH | project [WORD ...] (default: the 300 most frequent)")
    p.set_defaults(spill="words")
    p.add_argument("--method", choices=["pca", "tsne"], default="pca", help="project: PCA (default) or t-SNE")
    p.add_argument("--output", "-o", metavar="FILE.csv", help="project: write word,x,y here (default: print)")
    add_param_flag(p, WORDS_LISTED, "-k")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_embeddings)
