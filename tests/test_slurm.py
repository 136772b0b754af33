"""The workflow through SLURM (profiles/slurm) on a throw-away single-node cluster, against a local run.

Needs root: tests/slurm/cluster.sh installs the Debian SLURM packages when they are missing and
starts slurmctld, slurmd and munged (profiles/slurm/README.md says what the harness is). Deselected by default:
    pytest -m slurm
"""

import os
import re
import signal
import subprocess

import pandas as pd
import pytest
import yaml

from conftest import MIRROR, REPOSITORY, STAND_IN_MODEL, UNREACHABLE_HUB, prefill_hub_cache, workflow_command

pytestmark = pytest.mark.slurm

CLUSTER = REPOSITORY / "tests" / "slurm" / "cluster.sh"
PROFILE = REPOSITORY / "profiles" / "slurm"
# Every rule kind that is submitted up to the evaluation (extract, overlap, holdout,
# manifest, train, the embed + evaluate group) and the local download, for two models.
TARGETS = ("results/metrics/xquad_r/base.parquet", "results/metrics/xquad_r/hybrid.parquet")
PARTITION = "debug"
ACCOUNT = "hybridbatch-test"
TIMEOUT = 900  # seconds, per snakemake run


def snakemake_command(workdir, overlay, *options):
    configfiles = [REPOSITORY / "config" / "config.yaml", REPOSITORY / "config" / "test.yaml", overlay]
    return workflow_command(workdir, *TARGETS, "--configfile", *map(str, configfiles), "--config", f"mirror={MIRROR}", *options)


def run(command, log_path, env, timeout=TIMEOUT):
    """Run a snakemake command, its output going to `log_path`; returns (exit status, output).

    On time-out: SIGINT (snakemake cancels its SLURM jobs), then SIGKILL; SIGTERM would leave it
    waiting for the running jobs."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            status = f"timed out after {timeout} s"
    return status, log_path.read_text()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A single-node SLURM cluster, stopped again after the module's tests (also when they fail)."""
    if os.geteuid() != 0:
        pytest.fail("the SLURM tests start a SLURM cluster and need root")
    directory = tmp_path_factory.mktemp("slurm-cluster")
    started = subprocess.run(["bash", str(CLUSTER), "start", str(directory)], capture_output=True, text=True, timeout=900)
    try:
        assert started.returncode == 0, f"cluster.sh start failed:\n{started.stdout}\n{started.stderr}"
        conf = directory / "etc" / "slurm.conf"
        node = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%c %m"], capture_output=True, text=True, check=True, env={**os.environ, "SLURM_CONF": str(conf)}
        ).stdout.split()
        yield {"conf": conf, "jobcomp": directory / "log" / "jobcomp.txt", "cpus": int(node[0]), "memory": int(node[1]), "dir": directory}
    finally:
        stopped = subprocess.run(["bash", str(CLUSTER), "stop", str(directory)], capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, f"cluster.sh stop failed:\n{stopped.stdout}\n{stopped.stderr}"


def node_sized_profile(folder, cpus, memory):
    """profiles/slurm with every memory request cut to fit the test node (a share per CPU, since a
    group job may run one job per CPU side by side); all other settings unchanged."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    share = memory // cpus
    for resources in [profile["default-resources"], *profile["set-resources"].values()]:
        if "mem_mb" in resources:
            resources["mem_mb"] = min(resources["mem_mb"], share)
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def planned_jobs(dry_run_log):
    """(rule names of the jobs planned outside groups, number of group jobs, rule names inside groups)
    from a dry run's job listing."""
    single = re.findall(r"^(?:local)?rule (\w+):$", dry_run_log, flags=re.MULTILINE)
    groups = len(re.findall(r"^\[.*\] Group job ", dry_run_log, flags=re.MULTILINE))
    grouped = re.findall(r"^\s+(?:local)?rule (\w+):$", dry_run_log, flags=re.MULTILINE)
    return single, groups, grouped


def local_rules():
    """Rules that run on the submit host (`localrule: True`, or a `localrules:` directive)."""
    names = set()
    for path in [REPOSITORY / "Snakefile", *(REPOSITORY / "workflow" / "rules").glob("*.smk")]:
        text = path.read_text()
        for name, body in re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, flags=re.MULTILINE):
            if re.search(r"^\s+localrule:\s*True", body, flags=re.MULTILINE):
                names.add(name)
        for directive in re.findall(r"^localrules:(.*)$", text, flags=re.MULTILINE):
            names.update(re.findall(r"\w+", directive))
    return names


def jobcomp_records(path):
    """The job completion file: JobId -> {field: value}."""
    records = {}
    for line in path.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        records[fields["JobId"]] = fields
    return records


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory, mirror, tiny_model):
    """The same targets run locally and through the SLURM profile: (local dir, slurm dir, slurm log, dry-run log).

    The base encoder is a hub id whose model is in the Hugging Face cache already, as the base_model
    rule leaves it on the submit host; the hub itself cannot be reached."""
    root = tmp_path_factory.mktemp("slurm-runs")
    prefill_hub_cache(root / "hf", STAND_IN_MODEL, tiny_model)
    overlay = root / "hub-model.yaml"
    overlay.write_text(f"model:\n  base: {STAND_IN_MODEL}\n")
    env = {
        **os.environ,
        "HF_HOME": str(root / "hf"),
        "HF_ENDPOINT": UNREACHABLE_HUB,
        "PYTHONUNBUFFERED": "1",
        "SLURM_CONF": str(cluster["conf"]),
        "HYBRIDBATCH_SLURM_CPU_PARTITION": PARTITION,
        "HYBRIDBATCH_SLURM_GPU_PARTITION": PARTITION,
        "HYBRIDBATCH_SLURM_ACCOUNT": ACCOUNT,
    }
    profile = node_sized_profile(root / "profile", cluster["cpus"], cluster["memory"])
    slurm_dir = root / "slurm"
    slurm = snakemake_command(
        slurm_dir,
        overlay,
        "--workflow-profile",
        str(profile),
        # The test node's CPUs (the profile's `cores` is a real GPU node's).
        "--cores",
        str(cluster["cpus"]),
        # No slurmdbd on the test cluster, so no sacct: ask squeue (finished jobs stay listed for MinJobAge).
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--slurm-keep-successful-logs",
    )
    status, dry_run = run([*slurm, "--dry-run"], root / "dry-run.log", env, timeout=300)
    assert status == 0, dry_run
    # The local run goes side by side with the SLURM one, which mostly waits for status checks.
    local_dir = root / "local"
    local_command = snakemake_command(local_dir, overlay, "--cores", "2")
    with open(root / "local.log", "w") as local_log:
        local = subprocess.Popen(local_command, stdout=local_log, stderr=subprocess.STDOUT, env=env)
        try:
            status, slurm_log = run(slurm, root / "slurm.log", env)
        finally:
            local_status = local.wait(timeout=TIMEOUT)
    assert status == 0, f"snakemake through SLURM: {status}\n{slurm_log[-6000:]}"
    assert local_status == 0, (root / "local.log").read_text()[-6000:]
    return {"local": local_dir, "slurm": slurm_dir, "log": slurm_log, "dry_run": dry_run, "hf_home": root / "hf"}


def test_every_submitted_job_went_through_sbatch_and_completed(runs, cluster):
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", runs["log"])
    single, groups, _ = planned_jobs(runs["dry_run"])
    local = local_rules()
    # What needs the network runs on the submit host: downloads and the base model (a hub id there).
    assert {"download", "base_model"} <= local
    planned = [rule for rule in single if rule not in local]
    assert set(planned) >= {"extract", "holdout", "manifest", "train"}, planned
    assert groups > 0
    assert len(submitted) == len(set(submitted)) == len(planned) + groups, runs["log"][-6000:]
    records = jobcomp_records(cluster["jobcomp"])
    assert set(records) == set(submitted), "the cluster ran other jobs than snakemake submitted"
    for job in submitted:
        record = records[job]
        assert (record["JobState"], record["ExitCode"]) == ("COMPLETED", "0:0"), record
        # The partition and account came through the profile's environment variables.
        assert (record["Partition"], record["Account"]) == (PARTITION, ACCOUNT), record
    # Local rules ran on the submit host, the others only in SLURM jobs.
    logs = runs["slurm"] / ".snakemake" / "slurm_logs"
    kinds = {folder.name for folder in logs.iterdir()}
    groups_logged = {kind for kind in kinds if kind.startswith("group_evaluation")}
    assert kinds - groups_logged == {f"rule_{rule}" for rule in planned} and groups_logged, kinds


def test_slurm_jobs_run_offline_and_local_ones_do_not(runs):
    offline = "offline (HF_HUB_OFFLINE=1)"
    for rule in ("extract", "train", "embed", "evaluate"):
        in_slurm, local = sorted((runs["slurm"] / "logs" / rule).rglob("*.log")), sorted((runs["local"] / "logs" / rule).rglob("*.log"))
        assert in_slurm and local, rule
        assert all(offline in log.read_text() for log in in_slurm) and not any(offline in log.read_text() for log in local), rule
    # The hub model was fetched on the submit host, online, into the Hugging Face cache (the hub
    # being unreachable, the cached copy); the SLURM jobs used the folder built from it.
    base_log = (runs["slurm"] / "logs" / "base_model" / "base.log").read_text()
    assert offline not in base_log
    snapshot = runs["hf_home"] / "hub" / f"models--{STAND_IN_MODEL.replace('/', '--')}" / "snapshots" / ("0" * 40)
    assert f"hub model {STAND_IN_MODEL}: {snapshot}" in base_log, base_log


def test_a_model_is_embedded_and_evaluated_in_one_slurm_job(runs):
    single, groups, grouped = planned_jobs(runs["dry_run"])
    assert "embed" not in single and "evaluate" not in single
    evaluations, embeddings = grouped.count("evaluate"), grouped.count("embed")
    assert groups == evaluations == embeddings == len(TARGETS), (groups, grouped)
    submitted = re.findall(r"submitted with SLURM jobid \d+ \(log: (\S+)/group_evaluation\w*/(\d+)\.log\)", runs["log"])
    assert len(submitted) == groups, runs["log"][-6000:]
    group_logs = list((runs["slurm"] / ".snakemake" / "slurm_logs").glob("group_evaluation*/**/*.log"))
    assert len(group_logs) == groups
    for log in group_logs:
        text = log.read_text()
        # One SLURM job embedded its model (every language of the benchmark) and then evaluated it.
        assert len(re.findall(r"^rule embed:", text, flags=re.MULTILINE)) == 1, text[-3000:]
        assert len(re.findall(r"^rule evaluate:", text, flags=re.MULTILINE)) == 1, text[-3000:]


def test_outputs_equal_the_local_run(runs):
    local, slurm = runs["local"], runs["slurm"]
    tables = sorted(path.relative_to(local) for folder in ("metrics", "runs") for path in (local / "results" / folder).rglob("*.parquet"))
    assert {str(path) for path in tables} >= set(TARGETS)
    for path in tables:
        pd.testing.assert_frame_equal(pd.read_parquet(slurm / path), pd.read_parquet(local / path), check_exact=True)
    manifests = sorted(path.relative_to(local) for path in (local / "results" / "manifests").rglob("*") if path.is_file())
    assert manifests
    for path in manifests:
        assert (slurm / path).read_bytes() == (local / path).read_bytes(), path
