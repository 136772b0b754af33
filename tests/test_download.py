import pytest

from hybridbatch.core.errors import DataError
from hybridbatch.data.download import fetch, mirror_problem, sha256_of
from hybridbatch.data.registry import DATASETS, RawFile, checksums, expected_sha256


def test_every_registered_file_has_a_checksum_and_matches_the_mirror(mirror):
    listed = checksums()
    for spec in DATASETS.values():
        for raw in spec.files:
            assert raw.mirror_path in listed, raw
            assert sha256_of(mirror / raw.mirror_path) == listed[raw.mirror_path]


def test_fetch_copies_from_the_mirror(mirror, tmp_path):
    raw = DATASETS["xquad_r"].file("de.json")
    target = tmp_path / "xquad_r" / "de.json"
    source = fetch(raw, target, expected_sha256(raw), mirror)
    assert source == str(mirror / "lareqa/xquad-r/de.json")
    assert target.read_bytes() == (mirror / raw.mirror_path).read_bytes()


def test_file_missing_from_the_mirror_is_named(tmp_path):
    raw = DATASETS["mlqa_r"].file("hi.json")
    target = tmp_path / "mlqa_r" / "hi.json"
    with pytest.raises(DataError, match=r"lareqa/mlqa-r/hi\.json: missing from the mirror folder.*language hi"):
        fetch(raw, target, expected_sha256(raw), tmp_path / "empty-mirror")
    assert not target.exists()


def test_truncated_file_is_refused_and_leaves_nothing(mirror, tmp_path):
    raw = DATASETS["xquad_r"].file("en.json")
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


def _swap_lines(path, first, second):
    lines = path.read_bytes().split(b"\n")
    lines[first], lines[second] = lines[second], lines[first]
    path.write_bytes(b"\n".join(lines))


def test_swapped_records_pass_the_counts_and_only_the_checksum_catches_them(raw_root, mirror, tmp_path):
    """Two swapped NTREX lines, or two LAReQA questions with their ids swapped, keep every count the
    extraction checks: only the sha256 of the raw file tells (README, "Bad input")."""
    import json
    import shutil

    from hybridbatch.data.extract import extract

    raw = tmp_path / "raw"
    shutil.copytree(raw_root / "ntrex", raw / "ntrex")
    _swap_lines(raw / "ntrex" / "de.txt", 10, 11)
    shutil.copytree(raw_root / "xquad_r", raw / "xquad_r")
    document = json.loads((raw / "xquad_r" / "en.json").read_text(encoding="utf-8"))
    questions = document["data"][0]["paragraphs"][0]["qas"]
    questions[0]["id"], questions[1]["id"] = questions[1]["id"], questions[0]["id"]
    (raw / "xquad_r" / "en.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    extract(DATASETS["ntrex"], raw / "ntrex", ["de", "en"])  # counts equal the published ones
    extract(DATASETS["xquad_r"], raw / "xquad_r", ["de", "en"])

    for name, file in (("ntrex", "de.txt"), ("xquad_r", "en.json")):
        spec_file = DATASETS[name].file(file)
        copy = tmp_path / "mirror" / spec_file.mirror_path
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw / name / file, copy)
        with pytest.raises(DataError, match="does not match the expected"):
            fetch(spec_file, tmp_path / "out" / file, expected_sha256(spec_file), tmp_path / "mirror")


def test_the_mirror_is_checked_once_for_everything_a_run_needs(mirror, tmp_path):
    needed = [("xquad_r", DATASETS["xquad_r"].file("en.json")), ("ntrex", DATASETS["ntrex"].file("DOCUMENT_IDS.tsv"))]
    assert mirror_problem(mirror, needed) is None
    assert mirror_problem(tmp_path / "absent", []) is None  # nothing left to copy: the mirror is not needed
    assert mirror_problem(tmp_path / "absent", needed) == (
        f"mirror: the folder {tmp_path / 'absent'} does not exist, and 2 raw file(s) of this run are to be copied "
        "from it; point `mirror` at a copy of the data (the layout of ../shared/data), or set `mirror: null` to "
        "download from the public URLs"
    )
    (tmp_path / "partial" / "ntrex").mkdir(parents=True)
    (tmp_path / "partial" / "ntrex" / "DOCUMENT_IDS.tsv").write_text("doc\n")
    assert mirror_problem(tmp_path / "partial", needed) == (
        f"mirror: {tmp_path / 'partial'} lacks 1 file(s) this run needs: lareqa/xquad-r/en.json (xquad_r, language en); "
        "restore them, or set `mirror: null` to download from the public URLs"
    )
