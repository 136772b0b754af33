import pytest

from hybridbatch.download import fetch, sha256_of
from hybridbatch.errors import DataError
from hybridbatch.registry import DATASETS, RawFile, checksums, expected_sha256


def test_every_registered_file_has_a_checksum_and_matches_the_mirror(mirror):
    listed = checksums()
    for spec in DATASETS.values():
        for raw in spec.files:
            assert raw.mirror_path in listed, raw
            assert sha256_of(mirror / raw.mirror_path) == listed[raw.mirror_path]


def test_fetch_copies_from_the_mirror(mirror, tmp_path):
    raw = DATASETS["xquad_r"].language_file("de")
    target = tmp_path / "xquad_r" / "de.json"
    source = fetch(raw, target, expected_sha256(raw), mirror)
    assert source == str(mirror / "lareqa/xquad-r/de.json")
    assert target.read_bytes() == (mirror / raw.mirror_path).read_bytes()


def test_file_missing_from_the_mirror_is_named(tmp_path):
    raw = DATASETS["mlqa_r"].language_file("hi")
    target = tmp_path / "mlqa_r" / "hi.json"
    with pytest.raises(DataError, match=r"lareqa/mlqa-r/hi\.json: missing from the mirror folder.*language hi"):
        fetch(raw, target, expected_sha256(raw), tmp_path / "empty-mirror")
    assert not target.exists()


def test_truncated_file_is_refused_and_leaves_nothing(mirror, tmp_path):
    raw = DATASETS["xquad_r"].language_file("en")
    damaged = tmp_path / "mirror" / raw.mirror_path
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes((mirror / raw.mirror_path).read_bytes()[:1000])
    target = tmp_path / "out" / "en.json"
    with pytest.raises(DataError, match=r"en\.json: sha256 [0-9a-f]{64} does not match the expected"):
        fetch(raw, target, expected_sha256(raw), tmp_path / "mirror")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left behind either


def test_download_from_url(mirror, tmp_path):
    # file:// URLs go through the same download path as https:// ones.
    source = mirror / "ntrex" / "DOCUMENT_IDS.tsv"
    raw = RawFile("DOCUMENT_IDS.tsv", "ntrex/DOCUMENT_IDS.tsv", source.as_uri())
    target = tmp_path / "DOCUMENT_IDS.tsv"
    fetch(raw, target, expected_sha256(raw), None)
    assert target.read_bytes() == source.read_bytes()
    with pytest.raises(DataError, match="does not match"):
        fetch(raw, tmp_path / "other.tsv", "0" * 64, None)
    with pytest.raises(DataError, match="download failed"):
        fetch(RawFile("x", "x", (tmp_path / "absent").as_uri()), tmp_path / "x", "0" * 64, None)
