"""The `eqinfo` command line: one click group that every package of the project adds to.

`compressor/` contributes its own commands here.  `pipelines/` and `m2_train/` depend on
`compressor/`, never the other way, so their commands join through the entry-point groups
`eqinfo.commands` and `eqinfo.bench` declared in setup.py, loaded when the command line runs.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from compressor.cli import analyze, coding, m1, tokenize


class PluginGroup(click.Group):
    """A click group that adds the commands registered under an entry-point group the first time
    its commands are listed or looked up (not on import: a plugin may import this package)."""

    def __init__(self, *args, entry_point_group: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.entry_point_group, self.loaded = entry_point_group, False

    def _load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        for ep in sorted(entry_points(group=self.entry_point_group), key=lambda e: e.name):
            try:
                command = ep.load()
            except ImportError as exc:
                command = _unavailable(ep.name, exc)
            self.add_command(command, ep.name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, name)


def _unavailable(name: str, error: Exception) -> click.Command:
    """Stands in for a command whose package failed to import, and says why when run."""

    @click.command(name, help=f"(unavailable: {error})")
    def command() -> None:
        raise click.ClickException(f"`{name}` cannot load: {error}")

    return command


@click.group(
    cls=PluginGroup, entry_point_group="eqinfo.commands", context_settings={"help_option_names": ["-h", "--help"]}
)
def main() -> None:
    """Training LLMs over neurally compressed text: exact Equal-Info arithmetic coding, the Beam
    pipeline that writes M2's token shards, and M2's training."""


@main.group(cls=PluginGroup, entry_point_group="eqinfo.bench")
def bench() -> None:
    """Benchmarks, each against a named reference in the same run."""


main.add_command(coding.codec_check)
main.add_command(analyze.analyze)
bench.add_command(coding.bench_coder)
bench.add_command(coding.bench_windows)
for _command in (m1.train_m1, m1.eval_m1, m1.calibrate_m1, tokenize.encode, tokenize.decode, tokenize.train_spm):
    main.add_command(_command)
bench.add_command(m1.bench_m1)
bench.add_command(tokenize.bench_tokenizers)
