"""The middle floor of deploy tooling: the Terraform runner, the provider mirror setting, the plan scope and
environment list of the workflows, the configuration reference, and the setup script."""
