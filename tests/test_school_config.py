"""`[school] folder_url`, `folder_root`, `profile_key`: where the school folder is, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import config as configmod
from agent.errors import ConfigError

ROOT = "/home/lan/HoSo"


def load(
    school: dict, url: str = "https://nc.truong.vn/remote.php/dav/files/lan/"
) -> configmod.Config:
    raw = {"root": ROOT, "remote": {"url": url, "remote_dir": "/HoSo"}, "school": school}
    return configmod.from_dict(raw, Path("/etc/hoso/agent.toml"))


def test_no_folder_url_means_no_school_folder() -> None:
    assert load({"name": "Trường TH Bình Chánh"}).school_folder is None


def test_a_name_is_a_folder_under_the_share_address_as_a_nextcloud_group_folder_is() -> None:
    folder = load({"name": "Trường TH Bình Chánh", "folder_url": "Trường TH Bình Chánh"})
    found = folder.school_folder
    assert found is not None
    assert found.url == "https://nc.truong.vn/remote.php/dav/files/lan/"
    assert found.remote_dir == "Trường TH Bình Chánh"
    # Default local copy: named after the school folder on the share, beside the records.
    assert found.root == Path("/home/lan/Trường TH Bình Chánh")
    assert found.profile_key == ""
    # The school's other keys still reach the roles.
    assert folder.roles.school.name == "Trường TH Bình Chánh"


def test_a_path_is_on_the_share_server_and_a_url_is_taken_whole() -> None:
    found = load(
        {"folder_url": "/truong/chung/", "profile_key": "abcd efgh ijkl mnop"}
    ).school_folder
    assert found is not None
    assert (found.url, found.remote_dir) == ("https://nc.truong.vn/", "truong/chung")
    assert found.profile_key == "ABCD-EFGH-IJKL-MNOP"
    assert found.root == Path("/home/lan/chung")  # named after the folder on the share
    whole = load({"folder_url": "https://nas.truong.vn/dav/Tr%C6%B0%E1%BB%9Dng/"}).school_folder
    assert whole is not None
    assert (whole.url, whole.remote_dir) == ("https://nas.truong.vn/", "dav/Trường")
    assert whole.root == Path("/home/lan/Trường")


@pytest.mark.parametrize(
    ("school", "key"),
    [
        ({"folder_url": "/../etc"}, "school.folder_url"),
        ({"folder_url": "ftp://nas/truong"}, "school.folder_url"),
        ({"folder_url": "https://u:p@nas/truong"}, "school.folder_url"),
        ({"folder_url": "a\x1bb"}, "school.folder_url"),
        ({"folder_url": 3}, "school.folder_url"),
        ({"folder_root": "/home/lan/Truong"}, "school.folder_root"),
        ({"folder_url": "T", "folder_root": "Truong"}, "school.folder_root"),
        ({"folder_url": "T", "folder_root": ROOT + "/Trường"}, "school.folder_root"),
        ({"folder_url": "T", "folder_root": "/home"}, "school.folder_root"),
        ({"folder_url": "T", "profile_key": "not a key"}, "school.profile_key"),
    ],
)
def test_a_wrong_value_names_the_key(school: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"`{key}`"):
        load(school)
