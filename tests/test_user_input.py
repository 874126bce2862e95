"""Every number a user, a link or a command line sends is checked once, at the edge, by one
validator (explorer.user_input): its users' hostile inputs from issue #25 item 4."""

from __future__ import annotations

import math

import pytest

from explorer.featurevis import __main__ as featurevis_cli
from explorer.featurevis.inputs import parse_channels
from explorer.featurevis.optimise import VisSettings
from explorer.images.drawing import clean_strokes
from explorer.transfer import __main__ as transfer_cli
from explorer.transfer.adapt import TransferSettings
from explorer.transfer.tasks import builtin_task
from explorer.user_input import InputError, NumberField, finite_float, parse_index_ranges

HUGE = 10**400  # no float can hold it: float(HUGE) raises OverflowError

STEPS = NumberField("Steps", 1, 1024, integer=True)
RATE = NumberField("The learning rate", 1e-6, 1.0)


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3.0), (2.5, 2.5), (True, None), ("3", None), (None, None), (math.nan, None),
    (math.inf, None), (-math.inf, None), (HUGE, None), (-HUGE, None), ([1], None)])
def test_finite_float_takes_only_numbers_a_float_can_hold(value, expected):
    assert finite_float(value) == expected


@pytest.mark.parametrize("value", [0, 1025, 2.5, math.nan, math.inf, HUGE, True, "7", None])
def test_a_field_refuses_with_its_name_its_limits_and_the_value(value):
    with pytest.raises(InputError) as refused:
        STEPS.check(value)
    message = str(refused.value)
    assert message.startswith("Steps must be a whole number from 1 to 1,024; got ")
    assert len(message) < 90  # a 400-digit value is cut, not printed


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (1024, 1024), (7.0, 7)])
def test_a_whole_field_takes_whole_numbers_as_int(value, expected):
    assert STEPS.check(value) == expected and type(STEPS.check(value)) is int


@pytest.mark.parametrize("text", ["", " ", "1e3", "0x10", "nan", "inf", "-inf", "1" * 500, "½",
                                  "1_000_000_000"])
def test_parse_refuses_text_that_is_not_a_number_in_range(text):
    with pytest.raises(InputError, match="Steps must be"):
        STEPS.parse(text)


@pytest.mark.parametrize(("text", "expected"), [("0.05", 0.05), (" 1 ", 1.0), ("1e-3", 1e-3)])
def test_parse_reads_floats(text, expected):
    assert RATE.parse(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("0-7", list(range(8))), ("0,3,5", [0, 3, 5]), ("2-4,9", [2, 3, 4, 9]), ("3,1,3", [3, 1]),
    ("all", None), (" ALL ", None)])
def test_index_ranges_read_lists_and_ranges(text, expected):
    assert parse_index_ranges(text, label="Channels", high=100, max_count=64) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("0-999999999", "from 0 to 100; got 999999999"),  # refused before range() expands it
    ("0-99", "at most 64 at once; got 100"),
    ("0-40,41-80", "at most 64 at once; got 81"),
    ("5-2", "runs backwards"), ("x", "got 'x'"), ("", "is not a list"), (",", "at least one"),
    ("-3", "got ''"), ("1" * 500, "is not a list"), ("9" * 60, "from 0 to 100")])
def test_index_ranges_are_checked_before_anything_is_expanded(text, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        parse_index_ranges(text, label="Channels", high=100, max_count=64)


def test_the_featurevis_channels_box_refuses_a_billion_channels_at_once():
    with pytest.raises(InputError, match="65,535"):
        parse_channels("0-999999999")


@pytest.mark.parametrize(("args", "argument"), [
    (["--channels", "0-999999999"], "--channels"), (["--size", "0"], "--size"),
    (["--tv", "inf"], "--tv"), (["--steps", "0"], "--steps"), (["--lr", "nan"], "--lr"),
    (["--seed", "9" * 30], "--seed"), (["--jitter", "-1"], "--jitter")])
def test_the_featurevis_command_line_names_the_bad_argument(args, argument, capsys):
    with pytest.raises(SystemExit) as exit_info:
        featurevis_cli.build_parser().parse_args(["--layer", "act2", *args])
    assert exit_info.value.code == 2
    assert f"argument {argument}: " in capsys.readouterr().err


@pytest.mark.parametrize(("args", "argument"), [
    (["--per-class", "999999999999"], "--per-class"), (["--per-class", "0"], "--per-class"),
    (["--train-per-class", "100000000"], "--train-per-class"),
    (["--test-per-class", "0"], "--test-per-class"), (["--max-seconds", "inf"], "--max-seconds"),
    (["--epochs", "0"], "--epochs"), (["--lr", "nan"], "--lr"), (["--input-size", "0"],
                                                                 "--input-size"),
    (["--threads", "100000"], "--threads"), (["--batch-size", "1e9"], "--batch-size")])
def test_the_transfer_command_line_names_the_bad_argument(args, argument, capsys):
    with pytest.raises(SystemExit) as exit_info:
        transfer_cli.build_parser().parse_args(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argument}: " in err and "must be" in err


@pytest.mark.parametrize("values", [
    {"tv_weight": math.inf}, {"learning_rate": math.nan}, {"steps": 0}, {"size": HUGE},
    {"seed": -1}, {"jitter": 40, "size": 64}])
def test_feature_visualisation_settings_refuse_what_no_page_offers(values):
    with pytest.raises(ValueError):
        VisSettings(**values)


@pytest.mark.parametrize("values", [
    {"examples_per_class": 10**12}, {"max_seconds": math.inf}, {"learning_rate": math.inf},
    {"epochs": 0}, {"threads": 10**6}, {"seed": HUGE}, {"input_size": 0}])
def test_transfer_settings_refuse_what_no_page_offers(values):
    with pytest.raises(ValueError, match="must be"):
        TransferSettings(**values)


@pytest.mark.parametrize("counts", [{"train_per_class": 10**9}, {"test_per_class": 0},
                                    {"train_per_class": math.inf}])
def test_a_built_in_task_is_refused_before_anything_is_generated(counts):
    with pytest.raises(InputError, match="per class must be"):
        builtin_task("letters", **counts)


def test_strokes_with_numbers_no_float_holds_are_dropped_not_raised():
    strokes = clean_strokes([
        {"size": HUGE, "colour": "#ffffff", "points": [[1, 2], [3, 4]]},
        {"size": 3, "colour": "#ffffff",
         "points": [[HUGE, 2], [-HUGE, 5], [math.nan, 1], [math.inf, 1], [3, 4]]}])
    assert len(strokes) == 1 and strokes[0].points == ((3.0, 4.0),)
