"""A stand-in `adb` for the phone-runner tests: it logs its argv and answers from the recorded
fixtures in tests/data/phone (written in the tools' formats, not recordings of a dc2kit run)."""

import stat
import sys
import textwrap
from pathlib import Path

DATA = Path(__file__).parent / "data" / "phone"


def fake_adb(tmp_path: Path, devices: str, log: str = "tflite_gpu.txt") -> Path:
    """An `adb` answering `devices` with `devices`, getprop with the fixture, and a benchmark run
    with the fixture `log`; each call is appended to `tmp_path / "calls.jsonl"`."""
    script = tmp_path / "adb"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""\
            import json, sys
            args = sys.argv[1:]
            with open({str(tmp_path / "calls.jsonl")!r}, "a") as calls:
                calls.write(json.dumps(args) + "\\n")
            if args == ["devices"]:
                print({devices!r})
            elif args[-1] == "getprop":
                print(open({str(DATA / "getprop.txt")!r}).read())
            elif any(a.startswith("--graph=") for a in args):
                print(open({str(DATA / log)!r}).read())
            """
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script
