# hybridbatch: hybrid batch training and evaluation of multilingual dense retrievers.
#   snakemake --cores 8 all
from snakemake.utils import min_version

min_version("9.0")


# The defaults, wherever --directory points; --configfile overlays merge over them key by key.
configfile: f"{workflow.basedir}/config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/overlap.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/manifest.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/domains.smk"


rule all:
    input:
        data_tables(),
        overlap_tables(),
        metric_tables(),
        trec_qrels_files(),
        manifests(),
        result_tables(),
        figures(),
        domain_outputs(),
    default_target: True
