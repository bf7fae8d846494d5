"""``imagenet-e evaluate``: score a classifier on ImageNet-E, print the table, write results + plot."""

from __future__ import annotations

import argparse

from generation.commands import add_plugin_argument


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
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--dtype", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="autocast dtype (auto: bf16 on GPUs that support it, fp32 on CPU)")
    p.add_argument("--limit", type=_positive_int, default=None,
                   help="score only the first N source images of every config (for a quick look)")
    p.add_argument("--restrict-to-dataset-classes", action="store_true",
                   help="argmax only over the classes present in the dataset's labels")
    p.add_argument("--loader", default="auto", help="model loader (auto, transformers, callable, timm, builtin)")
    p.add_argument("--label-mapping", choices=["auto", "identity"], default="auto",
                   help="auto: map the model's id2label names to ImageNet-1k; identity: its 1000 outputs "
                        "are in ImageNet-1k order")
    p.add_argument("--model-revision", default=None, help="Hub revision of the model")
    p.add_argument("--dataset-revision", default=None, help="Hub revision of the dataset")
    p.add_argument("--n-bootstrap", type=_positive_int, default=1000)
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--output", default="results.json", help="results JSON path (default: results.json)")
    p.add_argument("--plot", default=None, help="also write a PNG figure of accuracies and drops")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--rank-timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="under torchrun / accelerate launch: how long ranks wait for each other before naming the "
                        "missing rank (default 1800)")
    add_plugin_argument(p)
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from imagenet_e_dataset.runtime import launch_environment
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
        plot=args.plot,
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
        print(format_table(doc))
        print(f"results: {args.output}" + (f"   plot: {args.plot}" if args.plot else ""))
    return 0
