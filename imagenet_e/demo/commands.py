"""``imagenet-e demo``: the whole benchmark end to end on the embedded default (see :mod:`imagenet_e.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="edit real photos into every subset, build the dataset, score a real classifier, show the results",
        description=(
            "Offline, on a CPU: the embedded photos (a fox squirrel, an espresso cup and a zebra, licences in imagenet_e/demo/assets/LICENSES.md) or your own "
            "--images/--masks go through every ImageNet-E subset, are written as a Hub-layout dataset, loaded back "
            "with datasets.load_dataset, scored with EfficientNet-Lite0 and reported as a table, drops.png, "
            "contact_sheet.png and results.json in --out."
        ),
    )
    p.add_argument("--out", type=Path, default=Path("imagenet-e-demo"), help="output folder (default ./imagenet-e-demo)")
    p.add_argument("--images", type=Path, help="your own photos instead of the embedded ones")
    p.add_argument("--masks", type=Path, help="their object masks (0/255 PNG named like the photos)")
    p.add_argument("--labels", type=Path, help="labels file '<file name><TAB><ImageNet index>' for your photos")
    p.add_argument("--limit", type=int, help="use only the first N photos")
    p.add_argument("--export-photos", type=Path, metavar="DIR",
                   help="only write the embedded photos as an image folder DIR/<class name>/<photo>.jpg (no masks), "
                        "the input of 'imagenet-e generate --image-folder', and stop")
    p.add_argument("--by-wnid", action="store_true",
                   help="with --export-photos: name the folders by WordNet id (DIR/n02356798/...), the ImageNet "
                        "layout 'imagenet-e generate --images' reads with ImageNet-1k's 1000 classes")
    p.add_argument("--iterations", type=int, help="CPU background-editor iterations (fewer = faster, rougher)")
    p.add_argument("--seed", type=int, default=404, help="global seed (default 404)")
    p.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    p.add_argument("--serve", action="store_true", help="then open the leaderboard with this result on 127.0.0.1")
    p.add_argument("--port", type=int, help="leaderboard port (with --serve)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true",
                   help="rerun into an existing --out written by an earlier demo (no other folder is ever replaced)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .run import DemoSettings, export_photos, run_demo, serve

    if args.by_wnid and args.export_photos is None:
        raise ValueError("--by-wnid only applies with --export-photos DIR")
    if args.export_photos is not None:
        for path in export_photos(args.export_photos, by_wnid=args.by_wnid):
            print(path)
        return 0

    report = run_demo(DemoSettings(
        out=args.out, images=args.images, masks=args.masks, labels=args.labels, limit=args.limit,
        iterations=args.iterations, seed=args.seed, n_bootstrap=args.n_bootstrap, progress=not args.no_progress,
        overwrite=args.overwrite,
    ))
    print(report.table)
    print()
    print(f"dataset (Hub layout): {report.dataset}")
    print(f"rows per config:      {report.rows}")
    print(f"results file:         {report.results}")
    from imagenet_e.eval.predictions import predictions_path_for

    print(f"predictions:          {predictions_path_for(report.results)}")
    print(f"drop plot:            {report.plot}")
    print(f"contact sheet:        {report.contact_sheet}")
    for note in report.notes:
        print(f"note: {note}")
    if args.serve:
        serve(report, args.port)
    return 0
