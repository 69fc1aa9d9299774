"""Release the app: push the image, run the migration as a gate, deploy, verify honestly, roll back.

    python -m release push     --env dev              # image tagged with the git commit, digest recorded
    python -m release migrate  --env dev              # the migration task once; fails the release on failure
    python -m release deploy   --env dev              # the recorded image; waits for steady state on it
    python -m release release  --env dev              # push, migrate, deploy: the whole release
    python -m release rollback --env dev              # redeploy the previously released image

The gate, the verification and the rollback (release/flow.py) drive a `Target` (release/target.py):
AWS's ECS and ECR APIs (release/aws.py), or with `--local` the system `make demo` runs on this machine
(release/local.py: the emulator's APIs, the local registry, the runner's migration container and rollout).
"""
