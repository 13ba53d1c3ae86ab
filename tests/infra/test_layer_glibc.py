"""Every shared object in the dependency layer loads on the Lambda runtime's glibc (ADR 0071).

The layer is built the way ``make package`` builds it (cached by input hash) and each ``.so``
is read from the zip: its ELF ``GLIBC_x.y`` version needs must not exceed the glibc of the
runtime's OS, and it must be built for the stage's architecture.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from infra import package

MACHINE = {"x86_64": "EM_X86_64", "arm64": "EM_AARCH64"}


def glibc_needs(data: bytes) -> tuple[str, set[tuple[int, int]]]:
    """(ELF machine, the GLIBC versions the object needs)."""
    elf = ELFFile(io.BytesIO(data))
    needs: set[tuple[int, int]] = set()
    section = elf.get_section_by_name(".gnu.version_r")
    if section is not None:
        for _verneed, auxiliaries in section.iter_versions():
            for aux in auxiliaries:
                m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", aux.name)
                if m:
                    needs.add((int(m.group(1)), int(m.group(2))))
    return str(elf["e_machine"]), needs


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_platform_tags_offer_nothing_newer_than_the_runtime(stage: str) -> None:
    cfg = package.load_stage(stage)
    top = package.runtime_glibc(cfg["python"])
    tags = package.platform_tags(cfg["python"], cfg["architecture"])
    assert f"manylinux2014_{package.PIP_ARCH[cfg['architecture']]}" in tags
    for tag in tags:
        m = re.match(r"manylinux_(\d+)_(\d+)_", tag)
        if m:
            assert (int(m.group(1)), int(m.group(2))) <= top, tag
    assert f"manylinux_{top[0]}_{top[1]}_{package.PIP_ARCH[cfg['architecture']]}" in tags


def test_the_runtime_table_knows_amazon_linux_2_and_2023() -> None:
    assert package.runtime_glibc("python3.11") == (2, 26)
    assert package.runtime_glibc("python3.12") == (2, 34)
    with pytest.raises(package.PackageError, match="unknown runtime"):
        package.runtime_glibc("python2.7")


@pytest.mark.slow
def test_every_shared_object_in_the_layer_loads_on_the_runtime(tmp_path: Path) -> None:
    cfg = package.load_stage("prod")
    top = package.runtime_glibc(cfg["python"])
    layer = package.build_deps_layer(cfg, tmp_path)
    checked = 0
    with zipfile.ZipFile(layer) as zf:
        for name in zf.namelist():
            if not re.search(r"\.so(\.\d+)*$", name):
                continue
            machine, needs = glibc_needs(zf.read(name))
            assert machine == MACHINE[cfg["architecture"]], name
            too_new = sorted(v for v in needs if v > top)
            assert not too_new, f"{name} needs GLIBC {too_new[-1]} > the runtime's {top}"
            checked += 1
    assert checked > 0  # pydantic-core and PyYAML ship compiled extensions
