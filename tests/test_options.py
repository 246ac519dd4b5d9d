"""Beam's options checked before anything runs (pipelines/options.py), with real Beam and real click."""

from __future__ import annotations

import click
import pytest
from apache_beam.options.pipeline_options import (
    DebugOptions,
    DirectOptions,
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)
from click.testing import CliRunner

from pipelines.options import BeamOptionError, pipeline_options

OWN = ("--input", "--output", "--tokenizer", "--num-shards", "--seq-len", "-q", "--quiet", "--help")
ACCELERATOR = "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"
DATAFLOW = [
    *("--runner", "DataflowRunner", "--project", "P", "--region", "us-central1", "--temp_location", "gs://b/t"),
    *("--sdk_container_image", "x", "--machine_type", "g2-standard-8", "--dataflow_service_options", ACCELERATOR),
    *("--experiments", "a", "--experiments", "b", "--number_of_worker_harness_threads", "1"),
]


def error(args, **kwargs) -> str:
    with pytest.raises(BeamOptionError) as caught:
        pipeline_options(args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, ValueError)
    return message


# -- what Beam would drop or fail on -------------------------------------------------------------


def test_beam_itself_drops_unknown_options_and_abbreviations_silently():
    """Why the check exists: Beam parses with allow_abbrev=False and keeps going without them."""
    for args in (["--direct_num_worker", "2"], ["--direct_num_w", "2"], ["--direct_num_w=2"]):
        assert PipelineOptions(args).view_as(DirectOptions).direct_num_workers == 1  # the default


@pytest.mark.parametrize(
    ("args", "own", "message"),
    [
        (
            ["--direct_num_worker", "2"],
            (),
            "unknown Beam option --direct_num_worker (did you mean --direct_num_workers?)",
        ),
        (["--runner", "DirectRunnr"], (), "unknown Beam runner DirectRunnr (did you mean DirectRunner?)"),
        (["--num-shard", "2"], OWN, "unknown Beam option --num-shard (did you mean eqinfo's --num-shards, before --?)"),
    ],
)
def test_a_typo_names_the_option_and_the_closest_known_one(args, own, message):
    assert error(args, own_options=own) == message


def test_an_eqinfo_option_after_the_separator_says_where_it_belongs():
    message = error(["--num-shards", "3"], own_options=OWN)
    assert message == "unknown Beam option --num-shards (it is eqinfo's: put it before --)"
    assert "eqinfo's" in error(["--help"], own_options=OWN)  # and exits nothing: -h/--help are not Beam's


@pytest.mark.parametrize(
    ("args", "name", "whole"),
    [
        (["--direct_num_w", "2"], "--direct_num_w", "--direct_num_workers"),
        (["--direct_num_w=2"], "--direct_num_w", "--direct_num_workers"),
        (["--direct_num_workers=2", "--exp", "a"], "--exp", "--experiment"),  # the shortest of three
    ],
)
def test_abbreviations_are_rejected_with_the_whole_option(args, name, whole):
    assert error(args) == f"unknown Beam option {name} (did you mean {whole}?)"


@pytest.mark.parametrize(
    ("args", "stray"),
    [
        (["stray"], "'stray'"),
        (["--direct_num_workers", "2", "-1"], "'-1'"),
        (["--experiments", "a", "b"], "'b'"),  # one value an occurrence: repeat the option
        (["--no_auth", "True"], "'True'"),  # a flag takes no value
        (["--runner", "DirectRunner", "--", "x"], "--"),  # a second separator
    ],
)
def test_an_argument_that_belongs_to_no_option_is_an_error(args, stray):
    assert error(args).startswith(f"unexpected Beam argument {stray} ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--direct_num_workers", "two"], "argument --direct_num_workers: invalid int value: 'two'"),
        (["--direct_running_mode", "fast"], "argument --direct_running_mode: invalid choice: 'fast'"),
        (["--runner"], "argument --runner: expected one argument"),
        (["--unknown_flag"], "unknown Beam option --unknown_flag"),
    ],
)
def test_a_bad_value_is_a_one_line_error_not_an_exit(args, message):
    assert error(args).startswith(message)


def test_a_runner_beam_cannot_create_is_an_error_that_lists_the_valid_ones():
    message = error(["--runner", "NoSuchThing"])
    assert message.startswith("unknown Beam runner NoSuchThing (one of ")
    assert all(name in message for name in ("DataflowRunner", "DirectRunner", "PrismRunner"))
    assert "No module named" in error(["--runner", "apache_beam.runners.nope.NopeRunner"])
    assert error(["--runner", "os.getcwd"]) == "Beam runner os.getcwd is not a PipelineRunner"


# -- what passes ---------------------------------------------------------------------------------


def test_the_local_arguments_used_here_pass():
    direct = pipeline_options(["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"])
    assert isinstance(direct, PipelineOptions)
    view = direct.view_as(DirectOptions)
    assert (view.direct_num_workers, view.direct_running_mode) == (2, "multi_processing")
    assert direct.view_as(SetupOptions).save_main_session is False
    in_memory = pipeline_options(["--direct_running_mode=in_memory"]).view_as(DirectOptions)
    assert in_memory.direct_running_mode == "in_memory"
    assert pipeline_options([]).view_as(StandardOptions).runner is None


def test_the_dataflow_arguments_pass_with_their_repeated_and_multi_value_options():
    options = pipeline_options(DATAFLOW)
    cloud = options.view_as(GoogleCloudOptions)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert (cloud.project, cloud.region, cloud.temp_location) == ("P", "us-central1", "gs://b/t")
    assert cloud.dataflow_service_options == [ACCELERATOR]
    debug = options.view_as(DebugOptions)
    assert (debug.experiments, debug.number_of_worker_harness_threads) == (["a", "b"], 1)
    worker = options.view_as(WorkerOptions)
    assert (worker.sdk_container_image, worker.machine_type) == ("x", "g2-standard-8")


@pytest.mark.parametrize(
    "args",
    [
        ["--runner", "dataflow", "--dry_run=True", "--no_auth", "--no_use_public_ips", "--experiments=a,b"],
        ["--runner", "direct"],  # Beam's own lookup: case aside, with or without "Runner"
        ["--runner", "apache_beam.runners.direct.direct_runner.DirectRunner"],
        ["--update_compatibility_version"],  # an optional value
    ],
)
def test_other_forms_beam_takes_pass(args):
    assert isinstance(pipeline_options(args), PipelineOptions)


def test_a_runner_brings_its_own_options():
    """RenderRunner's module defines RenderOptions: they count once the runner is looked up."""
    options = pipeline_options(["--runner", "apache_beam.runners.render.RenderRunner", "--render_output", "p.svg"])
    assert options.get_all_options()["render_output"] == ["p.svg"]


# -- eqinfo's own options: click, before `--` ----------------------------------------------------


@click.command("compress")  # the pattern recommended for pipelines/cli.py: no ignore_unknown_options
@click.option("--input", "inputs", multiple=True)
@click.option("--num-shards", type=int, default=1)
@click.option("-q", "--quiet", is_flag=True)
@click.argument("beam_args", nargs=-1, type=click.UNPROCESSED)
def compress(inputs, num_shards, quiet, beam_args):
    ctx = click.get_current_context()
    own = [name for p in ctx.command.get_params(ctx) for name in (*p.opts, *p.secondary_opts) if name.startswith("-")]
    try:
        pipeline_options(beam_args, own_options=own)
    except BeamOptionError as exc:
        raise click.UsageError(str(exc)) from None
    return num_shards, quiet, beam_args


def test_a_typo_before_the_separator_is_clicks_usage_error_with_the_closest_option():
    with pytest.raises(click.UsageError) as caught:
        compress.main(["--num-shard", "2"], standalone_mode=False)
    message = "No such option '--num-shard'. Did you mean '--num-shards'?"  # click 8.5's wording
    assert caught.value.format_message() == message
    result = CliRunner().invoke(compress, ["--num-shard", "2", "--", "--runner", "DirectRunner"])
    assert result.exit_code == 2 and f"Error: {message}" in result.output
    with pytest.raises(click.NoSuchOption):  # Beam's options go after `--`, never before
        compress.main(["--runner", "DirectRunner"], standalone_mode=False)


def test_everything_after_the_separator_reaches_beam_intact():
    args = ["--runner", "DirectRunner", "--direct_running_mode=in_memory", "--experiments", "a", "--experiments=b"]
    assert compress.main(["--num-shards", "2", "-q", "--", *args], standalone_mode=False) == (2, True, tuple(args))
    with pytest.raises(click.UsageError, match=r"unknown Beam option --direct_num_worker \(did you mean"):
        compress.main(["--", "--direct_num_worker", "2"], standalone_mode=False)
    with pytest.raises(click.UsageError, match=r"unknown Beam option -q \(it is eqinfo's: put it before --\)"):
        compress.main(["--", "-q"], standalone_mode=False)
