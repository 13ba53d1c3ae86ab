"""``aws cloudformation deploy`` sends a template inline only up to 51,200 bytes (ADR 0072).

Every template is either under the limit or deployed through the artifact bucket
(``--s3-bucket``) by the commands in docs/deploy.md; the bootstrap stack, which creates that
bucket, must be small enough to go inline.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from infra import bootstrap

ROOT = Path(__file__).resolve().parents[2]
INLINE_LIMIT = 51_200
DOCS = ROOT / "docs" / "deploy.md"
# `aws cloudformation package` rewrites local paths into S3 URLs: a little longer than the input.
PACKAGED_MARGIN = 4096


def shell_commands(markdown: str) -> list[list[str]]:
    """Every command in the ```sh blocks, continuation lines joined, split like a shell."""
    out: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(shlex.split(line, comments=True))
    return out


def deploy_commands() -> list[dict[str, Any]]:
    found = []
    for argv in shell_commands(DOCS.read_text(encoding="utf-8")):
        if argv[:3] == ["aws", "cloudformation", "deploy"]:
            opts = {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--")}
            found.append(opts)
    return found


def template_size(doc_path: str, stage_templates: dict[str, Path]) -> int:
    """The size of the template a documented path names (shell variables as for stage dev)."""
    path = doc_path.replace("$STAGE", "dev")
    if re.search(r"packaged-[^/]*\.yaml$", path):
        return stage_templates["dev"].stat().st_size + PACKAGED_MARGIN
    return (ROOT / path).stat().st_size


def test_the_bootstrap_template_is_current_and_fits_inline() -> None:
    assert bootstrap.TEMPLATE_PATH.read_text(encoding="utf-8") == bootstrap.render()
    assert len(bootstrap.render().encode()) <= INLINE_LIMIT


def test_documented_deploys_use_the_artifact_bucket_when_over_the_limit(
    app_templates: dict[str, Any],
) -> None:
    from infra import package

    stage_templates = {"dev": package.BUILD / "dev" / "app.yaml"}
    commands = deploy_commands()
    by_template = {c["--template-file"]: c for c in commands}
    assert "infra/bootstrap.yaml" in by_template, "docs/deploy.md must deploy the bootstrap stack"
    assert "--s3-bucket" not in by_template["infra/bootstrap.yaml"], "no artifact bucket exists yet"
    assert "infra/platform.yaml" in by_template
    assert any("app" in t or "packaged" in t for t in by_template)
    for path, cmd in by_template.items():
        size = template_size(path, stage_templates)
        if size > INLINE_LIMIT:
            assert "--s3-bucket" in cmd, (
                f"{path} is {size} bytes (> {INLINE_LIMIT}): deploy it with --s3-bucket"
            )


def test_the_platform_template_needs_the_bucket_indeed() -> None:
    """Guards the test above against passing vacuously."""
    assert (ROOT / "infra" / "platform.yaml").stat().st_size > INLINE_LIMIT


def test_deploy_guide_types_no_artifact_sizes() -> None:
    """Sizes come from the build (`make package` prints them), never from a typed figure."""
    text = DOCS.read_text(encoding="utf-8")
    assert not re.search(r"\(\d[\d,.]* ?(KiB|MiB|KB|MB)\)", text), "a typed artifact size in docs/deploy.md"
