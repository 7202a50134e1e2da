"""The deploy guide's commands work as written: the Lambda architecture has one default (the
one `scripts/package_lambdas.sh` builds, `x86_64`), arm64 is documented with its build
command, and every `TF_VAR_<name>` the documentation mentions is an input of
`infra/terraform/examples/basic` (the configuration the guide applies), with the default the
guide says it has."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "infra" / "terraform" / "examples" / "basic"
DEPLOY = REPO / "docs" / "deploy.md"
SCRIPT = REPO / "scripts" / "package_lambdas.sh"
OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
# Documents that tell a reader to set TF_VAR_* variables.
BASH = shutil.which("bash") or "/bin/bash"
DOCUMENTS = [
    DEPLOY,
    REPO / "README.md",
    REPO / "lambda" / "README.md",
    REPO / "infra" / "terraform" / "README.md",
    EXAMPLE / "README.md",
]


def example_variables() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(EXAMPLE.glob("*.tf")):
        doc = hcl2.loads(path.read_text(), serialization_options=OPTIONS)
        for block in doc.get("variable", []):
            found.update(block)
    return found


def section(text: str, heading: str) -> str:
    """The text of the markdown section that starts with `heading`, up to the next one."""
    start = text.index(heading)
    following = re.search(r"^## ", text[start + len(heading) :], flags=re.M)
    return text[start : start + len(heading) + following.start()] if following else text[start:]


def shell_blocks(text: str) -> list[list[str]]:
    """The lines of each ```sh / ```bash block."""
    return [
        [line.strip() for line in body.splitlines() if line.strip()]
        for body in re.findall(r"```(?:sh|bash)\n(.*?)```", text, flags=re.S)
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_documented_tf_var_is_an_input_of_the_example(document: Path) -> None:
    names = set(re.findall(r"TF_VAR_([a-z][a-z0-9_]*)", document.read_text()))
    unknown = sorted(names - set(example_variables()))
    assert not unknown, f"{document.name} mentions TF_VAR_ for {unknown}: not inputs of the example"


def test_the_guides_commented_defaults_are_the_defaults() -> None:
    """Step 3 lists optional knobs 'with their defaults': each value shown is the default."""
    step = section(DEPLOY.read_text(), "## 3. Apply")
    listed = step[step.index("with their defaults") :]
    variables = example_variables()
    checked = 0
    for name, value in re.findall(r"^# export TF_VAR_([a-z0-9_]+)=(\S+)", listed, flags=re.M):
        default = variables[name]["default"]
        if isinstance(default, dict):
            json.loads(value.strip("'"))  # an example value of a map, not its default
            continue
        shown: Any = value.strip('"')
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            shown = float(shown)
        assert shown == default, f"TF_VAR_{name}: the guide shows {value}, the default is {default}"
        checked += 1
    assert checked >= 10


def test_the_guide_builds_the_default_architecture_and_documents_arm64() -> None:
    text = DEPLOY.read_text()
    step = section(text, "## 2. Build the two Lambda zips")
    commands = [line for block in shell_blocks(step) for line in block]
    default_arch = re.search(r"^default_arch=(\S+)$", SCRIPT.read_text(), flags=re.M)
    assert default_arch is not None
    # The plain build comes first and needs no variable: its architecture is the default.
    assert commands[0] == "bash scripts/package_lambdas.sh"
    assert example_variables()["architecture"]["default"] == default_arch.group(1) == "x86_64"
    assert f"built for `{default_arch.group(1)}`" in step
    # arm64: the target, then the build, then the variable.
    arm = [
        "rustup target add aarch64-unknown-linux-gnu",
        "bash scripts/package_lambdas.sh arm64",
        "export TF_VAR_architecture=arm64",
    ]
    positions = [commands.index(c) for c in arm]
    assert positions == sorted(positions), commands
    for document in DOCUMENTS:
        flat = " ".join(document.read_text().split())
        assert not re.search(r"`?arm64`? (is the default|by default)", flat), document
    assert "arm64" in example_variables()["architecture"]["description"]
    assert "package_lambdas.sh arm64" in example_variables()["architecture"]["description"]


def test_the_package_script_refuses_an_unknown_architecture() -> None:
    result = subprocess.run(
        [BASH, str(SCRIPT), "sparc"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "x86_64 or arm64" in result.stderr


def test_arm64_without_its_rust_target_names_the_rustup_command() -> None:
    rustup = shutil.which("rustup")
    if rustup is None:
        pytest.skip("no rustup here")
    installed = subprocess.run(
        [rustup, "target", "list", "--installed"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.split()
    if "aarch64-unknown-linux-gnu" in installed:
        pytest.skip("the aarch64 target is installed here: the script would build")
    result = subprocess.run(
        [BASH, str(SCRIPT), "arm64"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "rustup target add aarch64-unknown-linux-gnu" in result.stderr
