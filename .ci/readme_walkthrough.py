"""Runs the README's walk-through as written and holds its sample outputs to what the commands print.

The shell blocks of "A walk through the API" (up to "Integrating a ticketing system") run in order in
one bash, against the server at README_BASE_URL instead of 127.0.0.1:8080, with `cargo run -q --` standing
for the built binary (README_BIN). A line `NAME=<uuid>` that copies an id from an earlier sample takes
the id the same step really returned. Then:

- no step may answer with a problem (an error);
- a step followed by a sample must print it: a Markdown sample exactly, a JSON sample member by member
  (`"...": "..."` and a trailing `…` mark what the README leaves out; ids and times of the run differ);
- the times of the day the samples were printed, and of the day of this run (README_TODAY when the
  server's clock is set to another day), read alike, and so do the days an action is overdue.

Any difference ends the run with a non-zero exit and both texts.
"""

import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

README = "README.md"
START, END = "## A walk through the API", "### Integrating a ticketing system"
# What differs from run to run however true the README is: ids, times of the run, days overdue.
UNSTABLE = {"id", "created_at", "updated_at", "completed_at", "verified_at", "recorded_at", "days_overdue"}
OMITTED = ("...", "…")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class Mismatch(Exception):
    pass


def steps(text):
    """Each shell block with the sample that follows it (language, text), or None."""
    section = text[text.index(START) : text.index(END)]
    found = []
    for match in re.finditer(r"```sh\n(.*?)```\n(\s*```(json|markdown)\n(.*?)```\n)?", section, re.S):
        sample = (match.group(3), match.group(4)) if match.group(2) else None
        found.append((match.group(1), sample))
    printed = re.search(r"printed on (\d{4}-\d{2}-\d{2})", section)
    if not printed:
        raise Mismatch("the walk-through does not say on which day its samples were printed")
    return found, printed.group(1)


def script(found, base_url, binary, out):
    lines = ["set -u", f'cargo() {{ shift 3; "{binary}" "$@"; }}']
    for n, (code, _) in enumerate(found):
        code = code.replace("http://127.0.0.1:8080", base_url)

        def earlier_id(match):
            name, uuid = match.group(1), match.group(2)
            for k, (_, sample) in enumerate(found[:n]):
                if sample and f'"id": "{uuid}"' in sample[1]:
                    return f"{name}=$(jq -r .id < {out}/{k})"
            raise Mismatch(f"{name}={uuid}: no earlier sample has this id")

        code = re.sub(rf"^(\w+)=({UUID})$", earlier_id, code, flags=re.M)
        lines.append(f"{{\n{code}\n}} > {out}/{n} 2>&1")
    return "\n".join(lines) + "\n"


def json_values(text):
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            break
        values.append(value)
    return values


def matches(sample, real, where):
    if isinstance(sample, dict):
        if not isinstance(real, dict):
            raise Mismatch(f"{where}: an object in the README, {real!r} printed")
        for key, value in sample.items():
            if key in OMITTED or key in UNSTABLE:
                continue
            if key not in real:
                raise Mismatch(f"{where}.{key}: in the README, not printed")
            matches(value, real[key], f"{where}.{key}")
    elif isinstance(sample, list):
        shown = [item for item in sample if item not in OMITTED]
        if not isinstance(real, list) or len(real) < len(shown) or (len(shown) == len(sample) != len(real)):
            raise Mismatch(f"{where}: {sample!r} in the README, {real!r} printed")
        for n, item in enumerate(shown):
            matches(item, real[n], f"{where}[{n}]")
    elif isinstance(sample, str) and any(mark in sample for mark in OMITTED):
        prefix = re.split(r"…|\.\.\.", sample)[0]
        if not isinstance(real, str) or not real.startswith(prefix):
            raise Mismatch(f"{where}: {sample!r} in the README, {real!r} printed")
    elif sample != real:
        raise Mismatch(f"{where}: {sample!r} in the README, {real!r} printed")


def as_of(text, day):
    """The text with `day` (and its times) and day counts made the same on any day."""
    text = re.sub(rf"{day}[ T]\d\d:\d\d(:\d\d(\.\d+)?Z?)?", "TODAY-TIME", text)
    text = text.replace(day, "TODAY")
    return re.sub(r"\d+ days overdue", "N days overdue", text)


def check(found, printed_day, out):
    today = os.environ.get("README_TODAY") or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    for n, (code, sample) in enumerate(found):
        with open(f"{out}/{n}") as f:
            output = f.read()
        first_line = code.strip().splitlines()[0]
        for value in json_values(output):
            if isinstance(value, dict) and isinstance(value.get("status"), int) and value["status"] >= 400:
                raise Mismatch(f"step {n + 1} ({first_line}) answered a problem: {value}")
        if not sample:
            continue
        language, text = sample
        if language == "markdown":
            if as_of(text.strip(), printed_day) != as_of(output.strip(), today):
                raise Mismatch(f"step {n + 1} ({first_line}): the README shows\n{text}\nbut it printed\n{output}")
            continue
        try:
            expected = json.loads(as_of(text, printed_day))
        except json.JSONDecodeError as error:
            raise Mismatch(f"step {n + 1}: the README's sample is not JSON ({error}):\n{text}") from None
        values = json_values(as_of(output, today))
        if not values:
            raise Mismatch(f"step {n + 1} ({first_line}) printed no JSON:\n{output}")
        matches(expected, values[-1], f"step {n + 1}")


def main():
    with open(README) as f:
        found, printed_day = steps(f.read())
    with tempfile.TemporaryDirectory() as out:
        with open(f"{out}/walk.sh", "w") as f:
            f.write(script(found, os.environ["README_BASE_URL"], os.environ["README_BIN"], out))
        subprocess.run(["bash", f"{out}/walk.sh"], check=True, cwd=out)
        try:
            check(found, printed_day, out)
        except Mismatch as mismatch:
            print(f"FAILED: {mismatch}", file=sys.stderr)
            return 1
    print(f"the README's walk-through: {len(found)} steps ran, every sample as printed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
