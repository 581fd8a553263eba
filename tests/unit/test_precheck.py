"""The pre-receive check unpacks only plain files and directories, inside its scratch dir."""

import io
import tarfile

from otterstack_hooks.precheck import _extract_files


def add(tar, name, data=b"", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def test_only_files_and_dirs_inside_are_extracted(tmp_path):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "deploy", kind=tarfile.DIRTYPE)
        add(tar, "deploy/compose.yaml", b"services: {}\n")
        add(tar, "certs", kind=tarfile.SYMTYPE, link="/etc/ssl/certs")
        add(tar, "hard", kind=tarfile.LNKTYPE, link="/etc/passwd")
        add(tar, "../escape.txt", b"x")
        add(tar, "/abs.txt", b"x")
    tree = tmp_path / "tree"
    _extract_files(archive, tree)
    assert (tree / "deploy" / "compose.yaml").read_text() == "services: {}\n"
    assert sorted(p.name for p in tree.iterdir()) == ["deploy"]
    assert not (tmp_path / "escape.txt").exists()
