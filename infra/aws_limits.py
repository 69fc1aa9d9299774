"""AWS's own limits and catalogues that the configuration (infra/config.py) is checked against: what AWS
accepts, written down once, each with where it comes from. Nothing here is a choice of this project."""
from __future__ import annotations

import functools
import ipaddress
import re

# RDS for PostgreSQL instance families and sizes (AWS's "DB instance classes" table). botocore ships no
# list of RDS classes, and EC2's list of instance types would accept families RDS does not offer: a
# known family and a known size catch the typo (`db.t4g.mirco`, `db.m5.larg`) that RDS only refuses
# at apply time, half-way through a deployment.
RDS_FAMILIES = frozenset({
    "t3", "t4g", "m5", "m5d", "m6g", "m6gd", "m6i", "m6id", "m6idn", "m6in", "m7g", "m7gd", "m7i", "m8g",
    "r5", "r5b", "r5d", "r6g", "r6gd", "r6i", "r6id", "r6idn", "r6in", "r7g", "r7gd", "r7i", "r8g",
    "x2g", "x2idn", "x2iedn", "x2iezn"})
RDS_SIZES = ("micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge",
             "16xlarge", "24xlarge", "32xlarge", "48xlarge")
# Memory of an RDS instance class (AWS's "Hardware specifications for DB instance classes"): the burstable t
# classes by size; every other class is vCPUs x its family's GiB per vCPU (m 4, r 8, x2g/x2idn 16, x2iedn and
# x2iezn 32), with 2 vCPUs at `large`, doubling with each size.
RDS_T_MEMORY_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
RDS_VCPUS = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48, "16xlarge": 64,
             "24xlarge": 96, "32xlarge": 128, "48xlarge": 192}
RDS_GIB_PER_VCPU = {"m": 4, "r": 8, "x2g": 16, "x2idn": 16, "x2iedn": 32, "x2iezn": 32}
# RDS for PostgreSQL's default max_connections: LEAST({DBInstanceClassMemory/9531392}, 5000) (the default
# parameter group; AWS Prescriptive Guidance, "Tuning PostgreSQL parameters": max_connections).
PG_BYTES_PER_CONNECTION = 9531392
PG_MAX_CONNECTIONS = 5000


def rds_memory_gib(instance_class: str) -> int | None:
    """The memory of `db.<family>.<size>`, or None for a size its family does not come in (db.m5.micro)."""
    _, family, size = instance_class.split(".")
    if family.startswith("t"):
        return RDS_T_MEMORY_GIB.get(size)
    per_vcpu = RDS_GIB_PER_VCPU.get(family) or RDS_GIB_PER_VCPU.get(family[0])
    return per_vcpu * RDS_VCPUS[size] if per_vcpu and size in RDS_VCPUS else None


def pg_max_connections(memory_gib: int) -> int:
    """The default max_connections of an instance with `memory_gib` (an upper bound: RDS keeps some memory back)."""
    return min(memory_gib * 2**30 // PG_BYTES_PER_CONNECTION, PG_MAX_CONNECTIONS)


# gp3 storage: RDS's minimum for PostgreSQL and its ceiling (GiB).
STORAGE_GB = (20, 65536)

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653)

# Task sizes Fargate accepts: CPU units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

# AWS WAF's bounds for a rate-based rule's limit (requests per client IP in the evaluation window).
WAF_RATE_LIMIT = (10, 2_000_000_000)

# S3 bucket naming rules (Amazon S3 User Guide, "General purpose bucket naming rules").
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(bucket: str) -> str | None:
    """Why S3 would refuse `bucket` as a general purpose bucket's name, or None if it would not."""
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        return "3-63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit"
    if bucket.startswith(RESERVED_BUCKET_PREFIXES):
        return f"S3 reserves the prefixes {', '.join(RESERVED_BUCKET_PREFIXES)}"
    if bucket.endswith(RESERVED_BUCKET_SUFFIXES):
        return f"S3 reserves the suffixes {', '.join(RESERVED_BUCKET_SUFFIXES)}"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        return None
    return "S3 refuses a name formatted as an IP address"


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in the endpoint data botocore ships (its pseudo-regions left out)."""
    import botocore.session  # here: only a region check pays for it

    session = botocore.session.get_session()
    return frozenset(region for partition in session.get_available_partitions()
                     for region in session.get_available_regions("ec2", partition_name=partition))
