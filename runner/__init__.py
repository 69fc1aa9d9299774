"""Run on this machine what the emulator says is deployed: the database, the load balancer, the tasks (from
the image in the local registry, image/), the scheduler that keeps them, and the rolling deployment."""
