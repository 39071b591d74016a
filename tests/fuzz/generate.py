"""Seeded bad inputs for every command and option: malformed numbers and units, odd names, hostile files.

:func:`cases` draws `n` cases with a seed: a command's valid base arguments with one option (sometimes two) set to
a bad value chosen for what the option takes: a number with units, a name, or a file (non-UTF-8, empty, deep,
aliased, of the wrong type, a folder, missing). The same seed always gives the same cases, so a failure in CI
replays exactly (``benchmarks/fuzz_cli.py --seed N``).
"""

from __future__ import annotations

import random

from tests.fuzz import files

# Each command's valid base arguments: the bad value is the only thing wrong, so the error seen is about it.
BASE = {
    "plan": ["plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16"],
    "compare": ["compare"],
    "crossover": ["crossover", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16"],
    "simulate": ["simulate", "smollm2-135m", "--rate", "1/s", "--duration", "30s"],
    "throughput": ["throughput", "smollm2-135m", "--requests", "50"],
    "models": ["models"],
    "quants": ["quants"],
    "gpus": ["gpus"],
    "profile": ["profile", "llama-3.1-8b", "--batch", "1", "--context", "1k"],
    "calibrate": ["calibrate", "measured.csv"],
    "seed": ["seed"],
    "sensitivity": ["sensitivity", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--inputs", "gpu-price"],
    "scenarios": ["scenarios", "scenarios.yaml"],
    # port 9 (discard) has no listener here: every accepted combination ends in one "cannot reach" line
    "endpoint": ["endpoint", "http://127.0.0.1:9", "--concurrency", "1", "--requests", "2"],
}
BASE_FILES = {"calibrate": {"measured.csv": files.profile_csv("measured")},
              "scenarios": {"scenarios.yaml": "scenarios:\n  - name: a\n    model: llama-3.1-8b\n    gpu: h100-sxm\n"
                                              "    quant: bf16\n"}}

# Options that name a file to read (or, for --output and --plot, to write).
READ_FILE_OPTIONS = {"--workload", "--tco", "--api-prices", "--gpu-prices", "--dedicated-prices", "--profile",
                     "--models", "--gpus", "--quants", "--usage", "--usage-log", "--risks", "--price-trends", "--trace",
                     "--diurnal", "--config", "--calibration"}
WRITE_FILE_OPTIONS = {"--output", "--plot"}
SKIPPED = {"--measure", "--weights", "--device", "--force-gpu", "--help"}  # the measured path: its own tests

NUMBERS = ["e5", "5MM", "1/0", "-3/s", "\u0663M", "\uff15M", "5 M", "nan", "inf", "-inf", "1e308", "1e30", "-1", "0",
           "1e-320", "99999999999999999999999", "", " ", "\x00", "5\n6", "[1,2]", "0x10", "1..2", "5\u00b5s",
           "10/fortnight", "5/ms", "1e15", "3M", "-0", "1e12", "2e9", "0.0001", "100%", "101%", "1,2,3", "5M\x00",
           "NaN%", "1e-9/s", "9" * 400]
NAMES = ["", ",", " ", "nosuch", "a\nb", "../../etc/passwd", "h100-sxm,,", "x" * 5000, "\x00", "bf16,nosuch",
         "H100-SXM", "llama", "-1", "1,,2", "\u00e9", "*", "--format"]
FORMATS = ["xml", "", "JSON", "table,json", "csv\n"]

# Files by kind: (name, content as files.content() takes it). Kinds every file option is tried with.
YAML_FILES = {
    "latin1": ("latin1.yaml", "name: caf\\xe9\ntokens_in_per_day: 5M\n"),
    "utf16": ("utf16.yaml", "\\xff\\xfe" + "".join(c + "\x00" for c in "tokens_in_per_day: 5M\n")),
    "binary": ("binary.bin", "<4000 bytes; generated file>"),
    "empty": ("empty.yaml", ""),
    "blank": ("blank.yaml", "   \n\n  \t\n"),
    "deep_seq": ("deep_seq.yaml", "<generated file>"),
    "deep_map": ("deep_map.yaml", "<generated file>"),
    "laughs": ("laughs.yaml", "<generated file>"),
    "laughs_map": ("laughs_map.yaml", "<generated file>"),
    "scalar": ("scalar.yaml", "5\n"),
    "list": ("list.yaml", "[1, 2, 3]\n"),
    "wrong_types": ("wrong.yaml", "globals: 5\nitems: 5\nmodels: [1]\ngpus: x\nrows: 5\ncalibrations: 3\n"),
    "huge_numbers": ("big.yaml", "tokens_in_per_day: 1e308\nmean_input_tokens: 1e30\npeak_to_average: 1e308\n"),
    "negative": ("neg.yaml", "tokens_in_per_day: -5\nrequests_per_day: -1\n"),
    "json_list": ("list.json", "[1,2,3]"),
    "json_rows": ("rows.json", '{"rows": 5}'),
    "csv_inf": ("prof_analytic_latency_ms_inf.csv", "<generated file>"),
    "csv_neg": ("prof_analytic_latency_ms_neg.csv", "<generated file>"),
    "csv_batch_inf": ("prof_measured_batch_inf.csv", "<generated file>"),
    "trace_huge": ("tr.csv", "timestamp,input_tokens,output_tokens\n0,1e30,10\n"),
    "trace_neg": ("tr_neg.csv", "timestamp,input_tokens,output_tokens\n0,-5,10\n1,nan,3\n"),
    "long_field": ("longkey.yaml", "<generated file>"),
    "nul": ("nul.yaml", "a: 1\x00\n"),
    "diurnal_huge": ("di.txt", " ".join(["1e308"] * 24) + "\n"),
    "diurnal_zero": ("di0.txt", " ".join(["0"] * 24) + "\n"),
    "bad_yaml": ("bad.yaml", "a: [1, 2\n"),
    "dup_key": ("dup.yaml", "a: 1\na: 2\n"),
    "tag": ("tag.yaml", "a: !!python/object:os.system x\n"),
}
SPECIAL_PATHS = ["missing.yaml", ".", "/dev/null", "sub", "a\nb.yaml"]  # "sub" is made a folder
OUTPUT_PATHS = ["out.bin", "nofolder/out.csv", ".", "sub", "out.yaml", "", "out.csv/x.csv", "/dev/null/x.csv"]


def _file_value(rng: random.Random) -> tuple[str, dict[str, str]]:
    if rng.random() < 0.15:
        path = rng.choice(SPECIAL_PATHS)
        return path, ({"sub/.keep": ""} if path == "sub" else {})
    name, text = YAML_FILES[rng.choice(sorted(YAML_FILES))]
    return name, {name: text}


def _value(option: str, rng: random.Random) -> tuple[str, dict[str, str]]:
    if option == "<model>":
        return rng.choice(NAMES), {}
    if option in READ_FILE_OPTIONS or option == "<measured>":
        if option == "--diurnal" and rng.random() < 0.3:
            return rng.choice(["default", "", "\x00", "nosuch", "1 2 3", " ".join(["1e308"] * 24)]), {}
        return _file_value(rng)
    if option in WRITE_FILE_OPTIONS:
        path = rng.choice(OUTPUT_PATHS)
        extra = {"sub/.keep": ""} if path == "sub" else {"out.csv": "x"} if path.startswith("out.csv/") else {}
        return path, extra
    if option == "--format":
        return rng.choice(FORMATS), {}
    pool = NUMBERS if rng.random() < 0.7 else NAMES
    return rng.choice(pool), {}


def options_of(command: str) -> list[str]:
    """Every option (first spelling) and positional argument (as ``<name>``) of `command`, from the real app."""
    import typer

    from planner.cli import app

    cmd = typer.main.get_command(app).commands[command]
    out = []
    for p in cmd.params:
        if p.param_type_name == "argument":
            out.append(f"<{p.name}>")
        elif not getattr(p, "is_flag", False) and p.opts[0] not in SKIPPED:
            out.append(p.opts[0])
    return out


def _with(args: list[str], option: str, value: str) -> list[str]:
    if option.startswith("<"):  # the positional argument: replace it (it follows the command name)
        return [args[0], value, *args[2:]] if len(args) > 1 and not args[1].startswith("-") else [args[0], value,
                                                                                                 *args[1:]]
    if option in args:
        i = args.index(option)
        return [*args[:i + 1], value, *args[i + 2:]]
    return [*args, option, value]


def cases(n: int, seed: int = 0, commands: tuple[str, ...] | None = None) -> list[dict]:
    """`n` seeded cases over `commands` (default: every command), options drawn evenly per command."""
    rng = random.Random(seed)
    commands = commands or tuple(BASE)
    options = {c: options_of(c) for c in commands}
    out = []
    for k in range(n):
        command = commands[k % len(commands)]
        args, case_files = list(BASE[command]), dict(BASE_FILES.get(command, {}))
        for _ in range(1 if rng.random() < 0.8 else 2):
            option = rng.choice(options[command])
            value, extra = _value(option, rng)
            args = _with(args, option, value)
            case_files.update(extra)
        if rng.random() < 0.5 and "--format" not in args and command not in ("calibrate",):
            args += ["--format", "json"]
        out.append({"args": args, "files": case_files})
    return out


__all__ = ["BASE", "cases", "options_of"]
