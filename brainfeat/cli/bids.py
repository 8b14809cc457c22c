"""Verbs for ds001246 and the fMRI: ``events``, ``design-check``, ``fmri``."""

from __future__ import annotations

import argparse

from brainfeat.catalog import Split
from brainfeat.cli._options import add_data_options, path_argument
from brainfeat.errors import DataNotFoundError, InvalidValueError

SPLITS = tuple(split.value for split in Split)


def _source_options(parser: argparse.ArgumentParser, *, root: bool = True) -> None:
    if root:
        parser.add_argument("--root",
                            help="a local ds001246 tree (default: fetch into the data folder)")
    add_data_options(parser, download=True)


def _events(args: argparse.Namespace) -> int:
    from brainfeat.bids.events import load_events

    if args.output and args.output.is_dir():
        raise InvalidValueError(f"-o {args.output} is a folder: give the name of the TSV file "
                                "to write, e.g. -o events.tsv.")
    events = load_events(args.subject, args.split, root=args.root, data_dir=args.data_dir,
                         download=args.download)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        events.to_csv(args.output, sep="\t", index=False, na_rep="n/a")
    runs = events[["session", "run"]].drop_duplicates()
    print(f"{events['subject'].iloc[0]} {args.split}: {len(events)} events in {len(runs)} runs "
          f"of {runs['session'].nunique()} sessions")
    for event_type, count in events["event_type"].value_counts(sort=False).items():
        if count:
            print(f"  {event_type:<11} {count}")
    if args.output:
        print(f"written to {args.output}")
    return 0


def _design_check(args: argparse.Namespace) -> int:
    from brainfeat.bids.design import check_design

    reports = [check_design(args.subject, split, root=args.root, data_dir=args.data_dir,
                            download=args.download) for split in (args.split or SPLITS)]
    for report in reports:
        print(report.summary())
    return 0 if all(report.ok for report in reports) else 1


def _fmri(args: argparse.Namespace) -> int:
    from brainfeat.fmri.preprocessed import load_fmri, read_fmri

    if args.file:
        fmri = read_fmri(args.file, args.subject, args.roi, args.split, args.average_repeats)
    else:
        fmri = load_fmri(args.subject, args.roi, args.split, args.average_repeats,
                         data_dir=args.data_dir, download=args.download)
    if not fmri.n_samples:
        source = args.file or f"{fmri.subject.h5_name}.h5 in the data folder"
        raise DataNotFoundError(
            f"{source} holds 0 {fmri.split.value} samples: expected the "
            f"{fmri.split.value} runs of a Generic Object Decoding file; choose another "
            "--split, or fetch the file again.")
    runs = sorted(set(fmri.runs.tolist()))
    print(f"{fmri.subject.name} {fmri.roi} {fmri.split.value}: {fmri.n_samples} samples x "
          f"{fmri.n_voxels} voxels, {len(set(fmri.stimulus_names))} distinct stimuli, "
          f"runs {runs[0]}..{runs[-1]}")
    print(f"  X mean {fmri.X.mean():.4g}, sd {fmri.X.std():.4g}; first stimulus "
          f"{fmri.stimulus_names[0]}; voxel coordinates "
          f"{'present' if fmri.voxel_xyz is not None else 'absent'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``events``, ``design-check`` and ``fmri`` verbs."""
    events = subparsers.add_parser(
        "events", help="read every event table of one subject and split (any ds001246 release)",
        description="Read every *_events.tsv of one subject and split of ds001246 (fetched into "
                    "the data folder, or from --root), normalise them into one table and "
                    "print its runs and event counts; -o writes the table as TSV.")
    events.add_argument("subject", help="1, S1, sub-01 or Subject1")
    events.add_argument("split", choices=SPLITS)
    events.add_argument("-o", "--output", type=path_argument,
                        help="write the normalised table as TSV")
    _source_options(events)
    events.set_defaults(handler=_events)

    design = subparsers.add_parser(
        "design-check", help="compare a subject's runs and stimuli with the experiment's design",
        description="Compare one subject's event tables with the experiment's design (runs "
                    "per session, repeats and images of Table 1 of the paper). Exit code 0 "
                    "when every split agrees, 1 otherwise.")
    design.add_argument("subject", help="1, S1, sub-01 or Subject1")
    design.add_argument("split", nargs="*", metavar="SPLIT",
                        help="train, test or imagery (default: all three)")
    _source_options(design)
    design.set_defaults(handler=_design_check)

    fmri = subparsers.add_parser(
        "fmri", help="summarise a subject's preprocessed fMRI (Subject*.h5)",
        description="Read one ROI and split of a subject's preprocessed fMRI (SubjectN.h5, "
                    "fetched or --file) and print its samples, voxels, runs and first "
                    "stimulus. A file without samples of that split is an error (exit "
                    "code 2).")
    fmri.add_argument("subject", help="1, S1, sub-01 or Subject1")
    fmri.add_argument("--roi", default="VC", help="V1 V2 V3 hV4 LOC FFA PPA LVC HVC VC (default VC)")
    fmri.add_argument("--split", default="train", choices=SPLITS)
    fmri.add_argument("--average-repeats", action="store_true",
                      help="one sample per test image / imagery category")
    fmri.add_argument("--file", help="a local Subject*.h5 instead of the fetched one")
    _source_options(fmri, root=False)
    fmri.set_defaults(handler=_fmri)
