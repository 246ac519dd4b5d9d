"""Beam's options, checked before a pipeline is built.

`PipelineOptions` keeps whatever it is given: an option that no Beam option class defines, a
positional argument, or an abbreviation (Beam parses with `allow_abbrev=False`) is dropped with at
most a log line, and a runner that does not exist fails later, in a traceback.  `pipeline_options`
checks the arguments against every option Beam's classes define, and the runner with Beam's own
lookup, and raises `BeamOptionError`, one line naming the argument and the closest known option.
"""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Iterable, Sequence

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, _BeamArgumentParser


class BeamOptionError(ValueError):
    """An argument that Beam would drop or fail on; the message is one line."""


class _Parser(_BeamArgumentParser):
    """Beam's parser (value-provider arguments included), raising instead of exiting."""

    def error(self, message: str):
        raise BeamOptionError(" ".join(str(message).split()))


def _option_classes() -> list[type[PipelineOptions]]:
    """Every loaded PipelineOptions subclass that defines options (subclasses of subclasses too),
    one of each name, as `PipelineOptions.get_all_options` dedupes them."""
    found: dict[str, type[PipelineOptions]] = {}
    pending = list(PipelineOptions.__subclasses__())
    while pending:
        cls = pending.pop(0)
        pending.extend(cls.__subclasses__())
        if "_add_argparse_args" in cls.__dict__:
            found.setdefault(str(cls), cls)
    return list(found.values())


def _parser() -> _Parser:
    # No abbreviations, as Beam; no -h/--help, which would exit; a class loaded twice (Beam's
    # TODO 18197) or a subclass repeating an option does not stop the check.
    parser = _Parser(allow_abbrev=False, add_help=False, conflict_handler="resolve")
    for cls in _option_classes():
        cls._add_argparse_args(parser)
    return parser


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1)
    return matches[0] if matches else None


def _unexpected(arg: str, parser: _Parser, own_options: Sequence[str]) -> str:
    if arg == "--":
        return "unexpected Beam argument -- (only the first -- separates eqinfo's options from Beam's)"
    if not arg.startswith("-") or arg == "-" or arg[1:2].isdigit():  # a word, stdin's -, a negative number
        return f"unexpected Beam argument {arg!r} (not the value of a Beam option)"
    name = arg.split("=", 1)[0]
    if name in own_options:
        return f"unknown Beam option {name} (it is eqinfo's: put it before --)"
    known = sorted(parser._option_string_actions)
    whole = [option for option in known if option.startswith(name)]
    # An abbreviation (which Beam drops: it parses with allow_abbrev=False) suggests its shortest
    # completion, the one that adds the least to what was typed.
    best = min(whole, key=lambda o: (len(o), o)) if whole else _closest(name, [*known, *own_options])
    if best is None:
        return f"unknown Beam option {name} (no Beam option is close to it)"
    if best in own_options:
        return f"unknown Beam option {name} (did you mean eqinfo's {best}, before --?)"
    return f"unknown Beam option {name} (did you mean {best}?)"


def check_runner(name: str) -> None:
    """Raise BeamOptionError unless Beam can create the runner `name` (a known name, case aside and
    with or without `Runner`, or a PipelineRunner's dotted path); creating one starts nothing."""
    from apache_beam.runners.runner import PipelineRunner, create_runner

    try:
        runner = create_runner(name)
    except ValueError:
        known = StandardOptions.KNOWN_RUNNER_NAMES
        by_lower = {k.lower(): k for k in known}
        best = _closest(name.lower(), by_lower)
        if best is not None:
            raise BeamOptionError(f"unknown Beam runner {name} (did you mean {by_lower[best]}?)") from None
        raise BeamOptionError(
            f"unknown Beam runner {name} (one of {', '.join(known)}, or a PipelineRunner's dotted path)"
        ) from None
    except (ImportError, AttributeError, TypeError) as exc:
        raise BeamOptionError(f"Beam runner {name} is not available: {' '.join(str(exc).split())}") from None
    if not isinstance(runner, PipelineRunner):
        raise BeamOptionError(f"Beam runner {name} is not a PipelineRunner")


def pipeline_options(beam_args: Sequence[str], *, own_options: Sequence[str] = ()) -> PipelineOptions:
    """Beam's options from `beam_args`, after checking each against the options Beam's classes define:
    `--name value`, `--name=value`, flags (`--no_auth`, `--no_use_public_ips`, ...) and repeated options
    (`--experiments a --experiments b`) are Beam's; an unknown option, an abbreviation, a stray
    argument, a bad value or an unknown runner raises BeamOptionError.  `own_options`, the command's
    own option names, only improve the message when one of them (or a near miss) comes after `--`."""
    if isinstance(beam_args, str):
        raise TypeError("beam_args is a sequence of arguments, not one string")
    args = list(beam_args)
    own = list(own_options)
    parser = _parser()
    runner = parser.parse_known_args(args)[0].runner
    if runner is not None:
        check_runner(runner)
        parser = _parser()  # the runner's module may define options of its own
    unknown = parser.parse_known_args(args, argparse.Namespace())[1]
    if unknown:
        raise BeamOptionError(_unexpected(unknown[0], parser, own))
    return PipelineOptions(args, save_main_session=False)


def threads_per_worker(options: PipelineOptions) -> int | None:
    """torch threads for each worker process where the DirectRunner starts several on this
    machine (cores / workers, so they do not oversubscribe the cores); None: torch's default."""
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode != "multi_processing":
        return None
    cores = len(os.sched_getaffinity(0))
    return max(1, cores // (direct.direct_num_workers or cores))
