"""The `eqinfo` command line: one click group that every package of the project adds to.

`compressor/` contributes its own commands here.  `pipelines/` and `m2_train/` depend on
`compressor/`, never the other way, so their commands join through the entry-point groups
`eqinfo.commands` and `eqinfo.bench` declared in setup.py and are loaded by name at start-up.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from compressor.cli import coding, m1, tokenize

PLUGIN_GROUPS = {"eqinfo.commands": "main", "eqinfo.bench": "bench"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Training LLMs over neurally compressed text: exact Equal-Info arithmetic coding, the Beam
    pipeline that writes M2's token shards, and M2's training."""


@main.group()
def bench() -> None:
    """Benchmarks, each against a named reference in the same run."""


def _unavailable(name: str, error: Exception) -> click.Command:
    """Stands in for a command whose package failed to import, and says why when run."""

    @click.command(name, help=f"(unavailable: {error})")
    def command() -> None:
        raise click.ClickException(f"`{name}` cannot load: {error}")

    return command


def _add_plugins() -> None:
    groups = {"main": main, "bench": bench}
    for group_name, target in PLUGIN_GROUPS.items():
        for ep in sorted(entry_points(group=group_name), key=lambda e: e.name):
            try:
                command = ep.load()
            except ImportError as exc:
                command = _unavailable(ep.name, exc)
            groups[target].add_command(command, ep.name)


main.add_command(coding.codec_check)
bench.add_command(coding.bench_coder)
bench.add_command(coding.bench_windows)
for _command in (m1.train_m1, m1.eval_m1, m1.calibrate_m1, tokenize.encode, tokenize.decode, tokenize.train_spm):
    main.add_command(_command)
bench.add_command(m1.bench_m1)
bench.add_command(tokenize.bench_tokenizers)
_add_plugins()
