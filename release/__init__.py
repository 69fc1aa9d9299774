"""Release the app: push the image, run the migration as a gate, deploy, verify honestly, roll back.

    python -m release build --output image.tar        # the image once, as an archive (the step that may need root)
    python -m release promote --env dev --image image.tar  # push it by digest, migrate, deploy, verify
    python -m release promote --env prod --image image.tar # the same digest to the next environment
    python -m release release  --env dev              # build (unless this commit is pushed) and promote, in one
    python -m release rollback --env dev [--to TAG]   # the image the service ran before, read from ECS
    python -m release status   --env dev              # what runs and ran: the service's revisions and digests
    python -m release push|migrate|deploy --env dev   # one step at a time (this commit's image, or --tag/--image)

Every step can be run again after a failure: an image already in the repository under its tag is reused (a
different one is refused), a migration already applied is a no-op, a service steady on the image passes. After
the rollout the release calls the app where users arrive (release/verify.py): steady is not enough.
`promote` and `release` also take an environment from nothing: a stack never applied is applied first with its
service at 0 tasks (main.py's SERVICE_STOPPED), so that no task serves before the first migration (flow.create).

The gate, the verification and the rollback (release/flow.py) drive a `Target` (release/target.py):
AWS's ECS and ECR APIs (release/aws.py), or with `--local` the system `make demo` runs on this machine
(release/local.py: the emulator's APIs, the local registry, the runner's migration container and rollout).
"""
