from pathlib import Path

import pytest

from autorr import ConfigError
from autorr._config import Mode, RedactionLevel, ReplayMode, Timing, load_config


def test_defaults_without_env_or_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config({})
    assert config.mode is Mode.OFF
    assert config.replay_mode is ReplayMode.STRICT
    assert config.timing is Timing.FAST
    assert config.output_dir == Path("recordings")
    assert config.redaction_level is RedactionLevel.MODERATE


def test_env_values_are_parsed_case_insensitively(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config({"AUTORR_MODE": "Replay", "AUTORR_REPLAY_MODE": "hybrid", "AUTORR_TIMING": "preserve",
                          "AUTORR_DIR": "x/y", "AUTORR_AGENT_ID": "a1",
                          "AUTORR_OVERRIDES": '{"llm_calls": {"live_mode": true, "model": "m2"}}'})
    assert (config.mode, config.replay_mode, config.timing) == (Mode.REPLAY, ReplayMode.HYBRID, Timing.PRESERVE)
    assert config.output_dir == Path("x/y") and config.agent_id == "a1"
    assert config.overrides == {"llm_calls": {"live_mode": True, "model": "m2"}}


@pytest.mark.parametrize("var, value, named", [
    ("AUTORR_MODE", "recrod", "AUTORR_MODE='recrod' is not valid; use one of: off, record, replay"),
    ("AUTORR_REPLAY_MODE", "lenient", "AUTORR_REPLAY_MODE='lenient'"),
    ("AUTORR_TIMING", "slow", "AUTORR_TIMING='slow'"),
    ("AUTORR_OVERRIDES", "{nope", "AUTORR_OVERRIDES is not valid JSON"),
    ("AUTORR_OVERRIDES", '{"llm": {}}', "unknown category 'llm'"),
    ("AUTORR_RECORDING_ID", "../escape", "AUTORR_RECORDING_ID='../escape'"),
])
def test_bad_env_value_names_the_variable(tmp_path, monkeypatch, var, value, named):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config({var: value})
    assert named in str(info.value)


def test_yaml_file_then_env_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "recording.yaml").write_text(
        "recording:\n  output_dir: ./recs\n  compression: false\n  redaction_level: strict\n"
        "  max_file_size_mb: 5\n  capture_streaming: false\n")
    config = load_config({})
    assert config.output_dir == Path("recs") and config.compression is False
    assert config.redaction_level is RedactionLevel.STRICT and config.max_file_size_mb == 5.0
    assert config.capture_streaming is False
    assert load_config({"AUTORR_DIR": "other"}).output_dir == Path("other")


def test_unknown_yaml_key_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "recording.yaml").write_text("recording:\n  compresion: true\n")
    with pytest.raises(ConfigError, match="unknown key 'recording.compresion'"):
        load_config({})


def test_bad_yaml_value_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("recording:\n  redaction_level: extreme\n")
    with pytest.raises(ConfigError, match="recording.redaction_level='extreme'"):
        load_config({"AUTORR_CONFIG": str(path)})


def test_missing_explicit_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config({"AUTORR_CONFIG": str(tmp_path / "missing.yaml")})


def test_config_is_frozen():
    config = load_config({})
    with pytest.raises(Exception):
        config.mode = Mode.RECORD  # type: ignore[misc]


def test_capture_switches_from_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config({"AUTORR_CAPTURE_TOOL_CALLS": "false", "AUTORR_CAPTURE_FILE_OPERATIONS": "0"})
    assert config.capture_tool_calls is False and config.capture_file_operations is False
    assert config.capture_llm_calls is True
    with pytest.raises(ConfigError, match="AUTORR_CAPTURE_STREAMING='maybe' is not valid; use true or false"):
        load_config({"AUTORR_CAPTURE_STREAMING": "maybe"})


@pytest.mark.parametrize("raw, expected", [("0.05", 0.05), ("250", 250.0), ("0", 0.0), ("null", 0.0)])
def test_max_file_size_takes_megabytes_and_zero_or_null_for_never(tmp_path, raw, expected):
    path = tmp_path / "c.yaml"
    path.write_text(f"recording:\n  max_file_size_mb: {raw}\n")
    assert load_config({"AUTORR_CONFIG": str(path)}).max_file_size_mb == expected


@pytest.mark.parametrize("raw", ["-1", "'big'", "true", ".nan", ".inf"])
def test_bad_max_file_size_is_named(tmp_path, raw):
    path = tmp_path / "c.yaml"
    path.write_text(f"recording:\n  max_file_size_mb: {raw}\n")
    with pytest.raises(ConfigError, match=r"recording.max_file_size_mb=.* is not valid; use a number of megabytes"):
        load_config({"AUTORR_CONFIG": str(path)})


def test_max_file_size_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config({"AUTORR_MAX_FILE_SIZE_MB": "0.5"}).max_file_size_mb == 0.5
    assert load_config({"AUTORR_MAX_FILE_SIZE_MB": "off"}).max_file_size_mb == 0.0
    with pytest.raises(ConfigError, match="AUTORR_MAX_FILE_SIZE_MB='lots' is not valid"):
        load_config({"AUTORR_MAX_FILE_SIZE_MB": "lots"})


@pytest.mark.parametrize("content, named", [
    (b'recording:\n  output_dir: "\xff\xfe"\n', "not UTF-8 text (byte 0xff at offset 26)"),
    (b"recording:\n  output_dir: 2024-02-30\n", "day is out of range for month"),
    (b"recording: " + b"[" * 5000, "cannot read config file"),
])
def test_unreadable_yaml_is_a_config_error_naming_the_file(tmp_path, content, named):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config({"AUTORR_CONFIG": str(path)})
    assert str(info.value).startswith(f"cannot read config file {path}: ") and named in str(info.value)


def test_a_directory_where_the_config_file_goes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config" / "recording.yaml").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"^config file config/recording.yaml is a directory, not a YAML file$"):
        load_config({})
    with pytest.raises(ConfigError, match=r"^AUTORR_CONFIG='config' is a directory"):
        load_config({"AUTORR_CONFIG": "config"})


def test_a_config_file_behind_a_folder_we_may_not_enter(tmp_path, monkeypatch):
    import os

    path = tmp_path / "locked" / "c.yaml"
    real_stat = os.stat

    def stat(target, *args, **kwargs):
        # What stat says under a folder without search permission (made here: root ignores modes).
        if os.fspath(target) == str(path):
            raise PermissionError(13, "Permission denied", str(target))
        return real_stat(target, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(ConfigError, match=rf"^cannot read AUTORR_CONFIG='{path}': Permission denied$"):
        load_config({"AUTORR_CONFIG": str(path)})


def test_blank_variables_count_as_unset(tmp_path, monkeypatch):
    # "  " for AUTORR_DIR made a folder named by two blanks; for AUTORR_RECORDING, the id ''.
    monkeypatch.chdir(tmp_path)
    config = load_config({"AUTORR_DIR": "  ", "AUTORR_RECORDING": " ", "AUTORR_RECORDING_ID": "\t",
                          "AUTORR_CHECKPOINT": " "})
    assert config.output_dir == Path("recordings")
    assert (config.recording, config.recording_id, config.checkpoint) == (None, None, None)
    assert load_config({"AUTORR_DIR": " runs/a "}).output_dir == Path("runs/a")


@pytest.mark.parametrize("value, named", [
    ("a" * 241, "241 bytes long; use at most 240"),
    ("run\x00one", r"'run\x00one' is not valid"),
    ("run\none", r"'run\none' is not valid"),
    (".hidden", "'.hidden' is not valid"),
])
def test_a_recording_id_that_makes_no_file_name(tmp_path, monkeypatch, value, named):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config({"AUTORR_RECORDING_ID": value})
    assert str(info.value).startswith("AUTORR_RECORDING_ID=") and named in str(info.value)
    assert load_config({"AUTORR_RECORDING_ID": "a" * 240}).recording_id == "a" * 240


@pytest.mark.parametrize("content, named", [
    ("recording:\n  output_dir: '   '\n", "recording.output_dir='   ' is not valid; use a non-empty string"),
    ("recording: false\n", "'recording' must be a mapping of settings, not False"),
    ("recording: []\n", "'recording' must be a mapping of settings, not []"),
    ("1: a\nrecording: {}\n", "unknown top-level key 1; expected 'recording'"),
    ("recording:\n  compression: false\n  compression: true\n", "duplicate key 'compression' (line 3, column 3)"),
    ("recording: {}\nrecording: {enabled: false}\n", "duplicate key 'recording'"),
    ("recording:\n  compression: [\n", "expected the node content, but found '<stream end>' (line 3, column 1)"),
])
def test_config_file_mistakes_are_one_line_naming_the_key(tmp_path, content, named):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config({"AUTORR_CONFIG": str(path)})
    assert named in str(info.value) and "\n" not in str(info.value)


def test_a_merged_mapping_may_still_be_overridden(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("recording:\n  <<: {compression: false, capture_streaming: false}\n  compression: true\n")
    config = load_config({"AUTORR_CONFIG": str(path)})
    assert (config.compression, config.capture_streaming) == (True, False)
