"""Run what the emulator says is deployed on this machine: the image (image.py), a local registry
speaking ECR's registry API (registry.py), the tasks, their database and load balancer."""
