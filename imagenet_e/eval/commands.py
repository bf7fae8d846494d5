"""``imagenet-e evaluate`` (score a classifier: predictions, results, table, plot) and ``imagenet-e score``
(results from a predictions file and the dataset's labels, no model)."""

from __future__ import annotations

import argparse
import sys

from generation.commands import add_plugin_argument
from imagenet_e_dataset.vocab import DEVICE_FORMS, DtypeChoice, device_argument, dtype_argument


def _int_at_least(minimum: int):
    """An argparse type for whole numbers >= ``minimum``, with the rule in the error message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a classifier on ImageNet-E and write a results file",
        description=(
            "Score an image classifier on ImageNet-E (all configs in one pass) and write a results file "
            "the leaderboard accepts. Works under torchrun / accelerate launch: each process scores a share "
            "and rank 0 writes."
        ),
    )
    p.add_argument("--model", required=True,
                   help="transformers folder or Hub id, package.module:function, file.py:function, "
                        "timm/NAME, or the built-in efficientnet-lite0")
    p.add_argument("--dataset", required=True, help="ImageNet-E folder in the Hub layout, or a Hub dataset repo id")
    p.add_argument("--configs", default="all", help="'all' or comma-separated config names/aliases "
                                                    "('original' is always added)")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--num-workers", type=_non_negative_int, default=None,
                   help="DataLoader decode workers (default: cores - 1, per process)")
    p.add_argument("--device", type=device_argument, default="auto",
                   help=f"torch device, one of {DEVICE_FORMS} (default auto: cuda:LOCAL_RANK if available, else cpu)")
    p.add_argument("--dtype", type=dtype_argument, default="auto",
                   help=f"autocast dtype, one of {', '.join(d.value for d in DtypeChoice)} "
                        "(default auto: on a CUDA GPU bf16 where supported, else fp16; fp32 on other devices)")
    p.add_argument("--limit", type=_positive_int, default=None,
                   help="score only the first N source images of every config (for a quick look)")
    p.add_argument("--restrict-to-dataset-classes", action="store_true",
                   help="argmax only over the classes present in the dataset's labels")
    p.add_argument("--loader", default="auto", help="model loader (auto, transformers, callable, timm, builtin)")
    p.add_argument("--label-mapping", choices=["auto", "identity"], default="auto",
                   help="auto: map the model's id2label names to ImageNet-1k; identity: its 1000 outputs "
                        "are in ImageNet-1k order")
    p.add_argument("--label-map", metavar="FILE.json", default=None,
                   help="explicit ImageNet-1k index of model outputs, {\"output\": index, ...}: needed when repeated "
                        "label names (crane, maillot) cannot be placed by the order of the outputs; for a dataset "
                        "with its own classes also {\"class name\": output, ...}: the model output predicting a "
                        "class that neither its name nor ImageNet-1k links")
    p.add_argument("--model-revision", default=None, help="Hub revision of the model")
    p.add_argument("--dataset-revision", default=None, help="Hub revision of the dataset")
    p.add_argument("--n-bootstrap", type=_positive_int, default=1000)
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--output", default="results.json", help="results JSON path (default: results.json)")
    p.add_argument("--predictions", default=None,
                   help="per-image predictions parquet (default: beside --output, results.json -> predictions.parquet)")
    p.add_argument("--plot", default=None, help="also write a PNG figure of accuracies and drops")
    p.add_argument("--skip-non-finite", action="store_true",
                   help="skip images whose logits hold NaN/inf (recorded and counted) instead of refusing the run")
    p.add_argument("--record-paths", action="store_true",
                   help="record local dataset/model paths in the results (default: folder name + content hash)")
    _format_argument(p)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--rank-timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="under torchrun / accelerate launch: how long ranks wait for each other before naming the "
                        "missing rank (default 1800)")
    add_plugin_argument(p)
    p.set_defaults(func=_evaluate)

    s = subparsers.add_parser(
        "score",
        help="recompute results.json from a predictions file (no model needed)",
        description=(
            "Check a predictions.parquet against the labels of the dataset revision it names (every (subset, "
            "source) present once, labels equal) and write the results file computed from it alone. Several "
            "files make one table (one row each in csv/markdown/latex)."
        ),
    )
    s.add_argument("predictions", nargs="+", metavar="PREDICTIONS.parquet")
    s.add_argument("--dataset", default=None,
                   help="dataset folder or Hub repo id (default: the one the predictions name; a local folder "
                        "is recorded by name only, so give its path here)")
    s.add_argument("--dataset-revision", default=None, help="Hub revision (default: the one the predictions name)")
    s.add_argument("--output", default=None,
                   help="results JSON path (one predictions file only; default: beside it, "
                        "predictions.parquet -> results.json, X.predictions.parquet -> X.json)")
    s.add_argument("--no-write", action="store_true", help="only print the table")
    _format_argument(s)
    s.set_defaults(func=_score)


def _format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "csv", "markdown", "latex"], default="text",
                        help="printed table: text (detailed) or the paper's table (Ori | Background | Size | "
                             "Position | Direction | Avg drop) as csv, markdown or latex")


def _evaluate(args: argparse.Namespace) -> int:
    from imagenet_e_dataset.runtime import launch_environment

    from .label_mapping import load_label_map
    from .report import format_table
    from .runner import evaluate_model

    doc = evaluate_model(
        args.model,
        args.dataset,
        configs=args.configs,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        dtype=args.dtype,
        limit=args.limit,
        restrict_to_dataset_classes=args.restrict_to_dataset_classes,
        output=args.output,
        predictions=args.predictions,
        plot=args.plot,
        label_map=load_label_map(args.label_map) if args.label_map else None,
        skip_non_finite=args.skip_non_finite,
        record_paths=args.record_paths,
        loader=args.loader,
        label_mapping=args.label_mapping,
        model_revision=args.model_revision,
        dataset_revision=args.dataset_revision,
        n_bootstrap=args.n_bootstrap,
        seed=args.seed,
        progress=not args.no_progress,
        rank_timeout=args.rank_timeout,
    )
    if launch_environment().rank == 0:
        from .predictions import predictions_path_for

        print(format_table(doc, args.format))
        predictions = args.predictions or predictions_path_for(args.output)
        print(f"results: {args.output}   predictions: {predictions}" + (f"   plot: {args.plot}" if args.plot else ""),
              file=sys.stderr if args.format != "text" else sys.stdout)
    return 0


def _score(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .formats import format_results
    from .scoring import write_results
    from .score import default_output, refuse_foreign_results, score_predictions

    if args.output is not None and len(args.predictions) > 1:
        raise ValueError("--output names one results file; give one predictions file with it")
    docs, written = [], []
    for path in args.predictions:
        doc = score_predictions(path, dataset=args.dataset, revision=args.dataset_revision)
        if not args.no_write:
            output = Path(args.output) if args.output else default_output(path)
            refuse_foreign_results(output, doc["predictions"]["sha256"])
            write_results(doc, output)
            written.append(output)
        docs.append(doc)
    print(format_results(docs, args.format))
    for output in written:
        print(f"results: {output}", file=sys.stderr)
    return 0
